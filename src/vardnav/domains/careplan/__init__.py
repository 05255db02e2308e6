"""The interprofessional care plan, Senior alert risk assessments, templates and the attention
signal (issue 7). See docs/careplan.md."""
