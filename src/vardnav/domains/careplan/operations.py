"""The care plan steps as FHIR operations (each with its OperationDefinition in /metadata).
Bodies are Parameters; several problems, goals or activities in one call are repeated
`problem` / `goal` / `activity` parameters with parts (or the parts at top level for one).

Encounter/{id}/$careplan-start; CarePlan/{id}/$careplan-add-problem, $careplan-add-goal,
$careplan-add-activity, $careplan-update-activity, $careplan-update-goal, $careplan-evaluate,
$careplan-note, $careplan-close, $careplan-timeline (GET); PlanDefinition/[{id}/]$apply;
Patient/{id}/$risk-assessment, $attention-signal, $attention-mark;
[Organization/{id}/]$careplan-worklist; $careplan-install-templates.
See docs/careplan.md for examples.
"""

from __future__ import annotations

from typing import Any

from vardnav.domains.careplan import timeline
from vardnav.domains.careplan.activities import ActivityInput
from vardnav.domains.careplan.goals import GoalInput
from vardnav.domains.careplan.params import Params
from vardnav.domains.careplan.problems import ProblemInput
from vardnav.domains.careplan.service import CarePlanService
from vardnav.errors import BadRequest, NotFound
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.registry import Handler, Operation
from vardnav.fhir.operations.steps import ParamSpec, bundle, definition
from vardnav.fhir.storage.repository import Repository


def _schedule(p: Params) -> tuple[str, Any] | None:
    typed = p.typed("schedule")
    if typed is None:
        return None
    if typed[0] not in ("String", "Timing", "Period"):
        raise BadRequest(f"Parameter '{p.label}.schedule' is a valueString, valueTiming or "
                         "valuePeriod")
    return typed


def activity_input(p: Params) -> ActivityInput:
    return ActivityInput(
        description=p.text("description"), profession=p.code("profession"),
        schedule=_schedule(p), follow_up=p.day("followUp"),
        status=p.code("status") or "scheduled", goals=p.refs("goal", "Goal"),
        code=p.concept("code"), keyword=p.code("vipsKeyword"), label=p.label or "activity")


def goal_input(p: Params) -> GoalInput:
    return GoalInput(
        description=p.text("description"), measure=p.concept("measure"),
        detail=p.typed("target"), due=p.day("dueDate"),
        addresses=p.refs("addresses", "Condition"), keyword=p.code("vipsKeyword"),
        label=p.label or "goal")


def problem_input(p: Params) -> ProblemInput:
    return ProblemInput(code=p.concept("code"), attention=p.code("attention"),
                        severity=p.code("severity"), keyword=p.code("vipsKeyword"))


def careplan_operations(service: CarePlanService) -> list[Operation]:
    s = service

    def start(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
              ) -> FhirResponse:
        p = Params.of(req.body)
        plan = s.start(repo, encounter_id=fid or "", follow_up=p.day("followUp"),
                       title=p.text("title"))
        return FhirResponse(201, plan, {"Location": f"CarePlan/{plan['id']}"})

    def add_problem(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                    ) -> FhirResponse:
        items = [problem_input(e) for e in Params.of(req.body).entries(req.body, "problem")]
        return bundle(s.add_problems(repo, plan_id=fid or "", items=items))

    def add_goal(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                 ) -> FhirResponse:
        items = [goal_input(e) for e in Params.of(req.body).entries(req.body, "goal")]
        return bundle(s.add_goals(repo, plan_id=fid or "", items=items))

    def add_activity(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                     ) -> FhirResponse:
        items = [activity_input(e) for e in Params.of(req.body).entries(req.body, "activity")]
        return bundle(s.add_activities(repo, plan_id=fid or "", items=items))

    def update_activity(repo: Repository, req: FhirRequest, _t: str | None,
                        fid: str | None) -> FhirResponse:
        p = Params.of(req.body)
        return bundle(s.update_activity(
            repo, plan_id=fid or "", activity_id=p.text("activity", required=True) or "",
            status=p.code("status"), schedule=_schedule(p), follow_up=p.day("followUp"),
            description=p.text("description"), profession=p.code("profession")))

    def update_goal(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                    ) -> FhirResponse:
        p = Params.of(req.body)
        return bundle(s.update_goal(
            repo, plan_id=fid or "", goal_id=p.ref("goal", "Goal", required=True) or "",
            target=p.typed("target"), due=p.day("dueDate"), description=p.text("description")))

    def evaluate(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                 ) -> FhirResponse:
        p = Params.of(req.body)
        return bundle(s.evaluate(
            repo, plan_id=fid or "", target=p.text("target", required=True) or "",
            outcome=p.code("outcome") or "", text=p.text("text", required=True) or "",
            next_follow_up=p.day("nextFollowUp")))

    def note(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
             ) -> FhirResponse:
        p = Params.of(req.body)
        return bundle(s.add_note(repo, plan_id=fid or "",
                                 text=p.text("text", required=True) or "",
                                 keyword=p.code("vipsKeyword")))

    def close(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
              ) -> FhirResponse:
        p = Params.of(req.body)
        return bundle(s.close(repo, plan_id=fid or "", reason=p.code("reason") or "completed",
                              note=p.text("note")))

    def apply(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
              ) -> FhirResponse:
        p = Params.of(req.body) if req.method.upper() == "POST" else Params.of_query(req.query)
        plan = s.apply(repo, plan_definition_id=fid, canonical=p.text("url"),
                       patient_id=p.ref("subject", "Patient"),
                       encounter_id=p.ref("encounter", "Encounter"),
                       plan_id=p.ref("carePlan", "CarePlan"),
                       exclude=tuple(v for _, v in p.all("exclude") if isinstance(v, str)))
        return FhirResponse(200, plan)

    def assess(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
               ) -> FhirResponse:
        p = Params.of(req.body)
        response = p.typed("response")
        result = s.assess(repo, patient_id=fid or "",
                          response=response[1] if response else None,
                          encounter_id=p.ref("encounter", "Encounter"))
        return bundle(result, 201)

    def signal(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
               ) -> FhirResponse:
        return FhirResponse(200, s.attention_signal(repo, patient_id=fid or ""))

    def mark(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
             ) -> FhirResponse:
        p = Params.of(req.body)
        flag = s.mark_attention(repo, patient_id=fid or "",
                                category=p.code("category") or "",
                                severity=p.code("severity") or "",
                                text=p.text("text"),
                                condition_id=p.ref("condition", "Condition"))
        return FhirResponse(201, flag, {"Location": f"Flag/{flag['id']}"})

    def worklist(repo: Repository, req: FhirRequest, rtype: str | None, fid: str | None,
                 ) -> FhirResponse:
        if rtype not in (None, "Organization"):
            raise NotFound("$careplan-worklist is defined for the system and Organization")
        p = Params.of(req.body) if req.method.upper() == "POST" else Params.of_query(req.query)
        return FhirResponse(200, s.worklist(repo, unit=fid or p.text("unit"),
                                            only=p.code("list")))

    def timeline_op(repo: Repository, req: FhirRequest, _t: str | None, fid: str | None,
                    ) -> FhirResponse:
        return FhirResponse(200, timeline.as_parameters(timeline.build(repo, fid or "")))

    def install(repo: Repository, req: FhirRequest, _t: str | None, _f: str | None,
                ) -> FhirResponse:
        return bundle({"installed": s.install_templates(repo)})

    ref, date, text, code = "Reference", "date", "string", "code"
    entry = ("Tuple", 0, "*")
    specs: list[tuple[str, str, str, list[ParamSpec], Handler]] = [
        ("careplan-start", "Encounter",
         "Start the episode's interprofessional care plan (one active plan per episode; 409 "
         "if there is one). Inpatient stays get theirs at admission (A01).",
         [("followUp", date, 0, "1", "First follow-up date of the plan"),
          ("title", text, 0, "1", "Title (default Vårdplan)")], start),
        ("careplan-add-problem", "CarePlan", "Add health problems (Condition)",
         [("problem", *entry, "code (CodeableConcept/Coding/string), attention (category "
                             "code), severity (high|moderate|low), vipsKeyword")], add_problem),
        ("careplan-add-goal", "CarePlan",
         "Add goals (Goal) — each with a measurable target and a due date",
         [("goal", *entry, "description, measure, target (value[x]), dueDate, addresses "
                          "(Condition), vipsKeyword")], add_goal),
        ("careplan-add-activity", "CarePlan",
         "Add interventions, each with its responsible profession",
         [("activity", *entry, "description, profession, schedule (string/Timing/Period), "
                              "followUp, status, goal (Goal), code, vipsKeyword")],
         add_activity),
        ("careplan-update-activity", "CarePlan",
         "Individualise or progress an intervention (accepting a proposal)",
         [("activity", text, 1, "1", "The activity's id"),
          ("status", code, 0, "1", "New status"), ("schedule", "Element", 0, "1", "Schedule"),
          ("followUp", date, 0, "1", "Follow-up date"),
          ("description", text, 0, "1", "Description"),
          ("profession", code, 0, "1", "Responsible profession")], update_activity),
        ("careplan-update-goal", "CarePlan", "Individualise a goal's target or due date",
         [("goal", ref, 1, "1", "The Goal"), ("target", "Element", 0, "1", "New target"),
          ("dueDate", date, 0, "1", "New due date"),
          ("description", text, 0, "1", "Description")], update_goal),
        ("careplan-evaluate", "CarePlan",
         "Evaluate the plan, an intervention or a goal with an outcome; set the next "
         "follow-up",
         [("target", text, 1, "1", "'plan', an activity id or Goal/{id}"),
          ("outcome", code, 1, "1", "goal-achievement code"), ("text", text, 1, "1", "Text"),
          ("nextFollowUp", date, 0, "1", "Next follow-up date")], evaluate),
        ("careplan-note", "CarePlan", "A note in the plan, under a VIPS keyword for nurses",
         [("text", text, 1, "1", "Text"), ("vipsKeyword", code, 0, "1", "VIPS keyword")],
         note),
        ("careplan-close", "CarePlan", "Close the plan (read-only afterwards)",
         [("reason", code, 0, "1", "completed | handover | transfer | discharge"),
          ("note", text, 0, "1", "Closing note")], close),
        ("risk-assessment", "Patient",
         "Score a Senior alert assessment (Modified Norton, Downton, MNA-SF) on the server; "
         "store the response and an Observation; propose interventions over the threshold",
         [("response", "QuestionnaireResponse", 1, "1", "The answers"),
          ("encounter", ref, 0, "1", "The episode (default: the active plan's)")], assess),
        ("attention-mark", "Patient",
         "Record an attention signal item (Flag), optionally for a Condition",
         [("category", code, 1, "1", "attention category"),
          ("severity", code, 1, "1", "high | moderate | low"),
          ("text", text, 0, "1", "What it is"), ("condition", ref, 0, "1", "The Condition")],
         mark),
    ]
    ops = [Operation(name, definition(name, [rtype], doc, params), handler, (rtype,),
                     ("POST",)) for name, rtype, doc, params, handler in specs]
    ops.append(Operation("apply", definition(
        "apply", ["PlanDefinition"],
        "Apply a care plan template into the patient's active plan (then individualise "
        "it); a template already applied is a 409",
        [("url", "canonical", 0, "1", "Template canonical url[|version] (type level)"),
         ("subject", ref, 0, "1", "The Patient"), ("encounter", ref, 0, "1", "The episode"),
         ("carePlan", ref, 0, "1", "The plan"),
         ("exclude", text, 0, "*", "Template action ids to leave out")], out="CarePlan"),
        apply, ("PlanDefinition",), ("POST",)))
    ops.append(Operation("attention-signal", definition(
        "attention-signal", ["Patient"],
        "The patient's attention signal: severe hypersensitivities, serious diseases, "
        "treatments, communicable diseases and restrictions of care, each with category and "
        "severity", [], out="Parameters", affects_state=False), signal, ("Patient",),
        ("GET", "POST")))
    ops.append(Operation("careplan-worklist", definition(
        "careplan-worklist", ["Organization"],
        "A care unit's work lists: overdue follow-ups, risks without intervention, 65+ "
        "without assessment, Norton due within 24 h, goals past their date",
        [("unit", text, 0, "1", "Organization id or HSA-id (default: the caller's unit)"),
         ("list", code, 0, "1", "Only this list")], out="Parameters", affects_state=False,
        system=True), worklist, None, ("GET", "POST")))
    ops.append(Operation("careplan-timeline", definition(
        "careplan-timeline", ["CarePlan"],
        "The plan's history as one readable list: every entry with when, who, profession, "
        "unit, provider and VIPS keyword, oldest first", [], out="Parameters",
        affects_state=False), timeline_op, ("CarePlan",), ("GET",)))
    ops.append(Operation("careplan-install-templates", definition(
        "careplan-install-templates", [],
        "Store the vendored care plan templates and assessment Questionnaires (idempotent)",
        [], system=True), install, None, ("POST",)))
    return ops
