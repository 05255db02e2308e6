"""The care plan steps: one object per app holding the clock (tests move it). Each public
method takes the caller's Repository (the caller owns the one transaction; nothing here
commits) and returns what it wrote.

A plan step reads the plan through the access policy, refuses a closed plan, checks every
input before writing, stamps each new entry with its author (entries.py) and lists the
author among the plan's contributors. Because the request is one transaction, a step that
fails half-way leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from vardnav.domains.careplan import (
    activities,
    apply,
    assessments,
    attention,
    goals,
    instruments,
    plans,
    problems,
    templates,
    vips,
    worklists,
)
from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan.entries import author_of, mark
from vardnav.domains.discharge.case import content, fetch, iso, ref_id
from vardnav.errors import BusinessRuleViolation, NotFound
from vardnav.fhir.storage.repository import Repository

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CarePlanService:
    def __init__(self, *, clock: Clock = _utcnow) -> None:
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    def _open(self, repo: Repository, plan_id: str, *types: str) -> dict[str, Any]:
        for rtype in ("CarePlan", *types):
            repo.authorize("create", rtype)
            repo.authorize("update", rtype)
        plan = plans.load(repo, plan_id)
        plans.require_open(plan)
        return content(plan)

    # -- the plan ---------------------------------------------------------------------------

    def start(self, repo: Repository, *, encounter_id: str, follow_up: date | None = None,
              title: str | None = None) -> dict[str, Any]:
        author = author_of(repo)
        encounter = fetch(repo, "Encounter", encounter_id)
        if encounter is None:
            raise NotFound(f"Encounter/{encounter_id} is not known")
        return plans.start(repo, encounter=encounter, author=author, now=self.now(),
                           follow_up=follow_up, title=title)

    def add_problems(self, repo: Repository, *, plan_id: str,
                     items: list[problems.ProblemInput]) -> dict[str, Any]:
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id, "Condition", "Flag")
        written, flags = [], []
        for item in items:
            condition, flag = problems.create(repo, item, plan=plan, author=author, now=now)
            written.append(condition)
            flags += [flag] if flag else []
        plans.contributed(plan, author)
        return {"plan": plans.save(repo, plan), "conditions": written, "flags": flags}

    def add_goals(self, repo: Repository, *, plan_id: str,
                  items: list[goals.GoalInput]) -> dict[str, Any]:
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id, "Goal")
        for item in items:  # every goal is checked before any is written
            goals.check(item)
            self._in_plan(plan, "addresses", "Condition", item.addresses)
        written = [goals.create(repo, item, plan=plan, author=author, now=now)
                   for item in items]
        plans.contributed(plan, author)
        return {"plan": plans.save(repo, plan), "goals": written}

    def add_activities(self, repo: Repository, *, plan_id: str,
                       items: list[activities.ActivityInput]) -> dict[str, Any]:
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id)
        for item in items:
            activities.check(item)
            self._in_plan(plan, "goal", "Goal", item.goals)
        plan.setdefault("activity", []).extend(
            activities.build(item, author=author, now=now) for item in items)
        plans.contributed(plan, author)
        return {"plan": plans.save(repo, plan)}

    def update_activity(self, repo: Repository, *, plan_id: str, activity_id: str,
                        **changes: Any) -> dict[str, Any]:
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id)
        activities.change(activities.find(plan, activity_id), author=author, now=now,
                          **changes)
        plans.contributed(plan, author)
        return {"plan": plans.save(repo, plan)}

    def update_goal(self, repo: Repository, *, plan_id: str, goal_id: str,
                    target: tuple[str, Any] | None = None, due: date | None = None,
                    description: str | None = None) -> dict[str, Any]:
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id, "Goal")
        goal = self._goal(repo, plan, goal_id)
        said = []
        first = (goal.get("target") or [{}])[0]
        if target is not None:
            if target[0] not in goals.DETAIL_TYPES:
                raise BusinessRuleViolation(f"A target is one of {', '.join(goals.DETAIL_TYPES)}")
            for key in [k for k in first if k.startswith("detail")]:
                del first[key]
            first[f"detail{target[0]}"] = target[1]
            said.append("target")
        if due is not None:
            first["dueDate"] = due.isoformat()
            said.append(f"due {due.isoformat()}")
        if description:
            goal["description"] = {"text": description}
            said.append("description")
        if not said:
            raise BusinessRuleViolation("Nothing to change: give target, dueDate or "
                                        "description")
        goal["target"] = [first, *(goal.get("target") or [])[1:]]
        _goal_note(goal, f"Ändrat: {', '.join(said)}", author, now)
        stored = repo.update("Goal", goal_id, goal).resource
        plans.contributed(plan, author)
        return {"plan": plans.save(repo, plan), "goal": stored}

    def evaluate(self, repo: Repository, *, plan_id: str, target: str, outcome: str,
                 text: str, next_follow_up: date | None = None) -> dict[str, Any]:
        """Evaluate the plan, an activity (its id) or a goal (Goal/{id})."""
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id, "Goal")
        activities.check_outcome(outcome)
        out: dict[str, Any] = {}
        keyword = vips.keyword_for("evaluation", author.profession)
        if target == "plan":
            plans.add_note(plan, text, author, now, keyword)
            c.set_ext(plan["note"][-1], c.EVALUATION_OUTCOME,
                      valueCodeableConcept=c.concept(c.ACHIEVEMENT, outcome))
            if next_follow_up is not None:
                c.set_ext(plan, c.FOLLOW_UP, valueDate=next_follow_up.isoformat())
        elif target.startswith("Goal/"):
            goal_id = target.partition("/")[2]
            goal = self._goal(repo, plan, goal_id)
            goal["achievementStatus"] = c.concept(c.ACHIEVEMENT, outcome)
            if outcome == "achieved":
                goal["lifecycleStatus"] = "completed"
                goal["statusDate"] = now.date().isoformat()
            note = _goal_note(goal, text, author, now)
            c.set_ext(note, c.EVALUATION_OUTCOME,
                      valueCodeableConcept=c.concept(c.ACHIEVEMENT, outcome))
            vips.tag(note, keyword)
            out["goal"] = repo.update("Goal", goal_id, goal).resource
            # The goal's due date is its own ($careplan-update-goal); the next follow-up is
            # the plan's.
            if next_follow_up is not None:
                c.set_ext(plan, c.FOLLOW_UP, valueDate=next_follow_up.isoformat())
        else:
            activities.evaluate(activities.find(plan, target), outcome=outcome, text=text,
                                author=author, now=now, next_follow_up=next_follow_up)
        plans.contributed(plan, author)
        return {"plan": plans.save(repo, plan), **out}

    def add_note(self, repo: Repository, *, plan_id: str, text: str,
                 keyword: str | None) -> dict[str, Any]:
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id)
        plans.add_note(plan, text, author, now,
                       vips.keyword_for("note", author.profession, keyword))
        plans.contributed(plan, author)
        return {"plan": plans.save(repo, plan)}

    def close(self, repo: Repository, *, plan_id: str, reason: str,
              note: str | None = None) -> dict[str, Any]:
        if reason not in c.CLOSE_REASONS:
            raise BusinessRuleViolation(f"reason must be one of {', '.join(c.CLOSE_REASONS)}")
        author, now = author_of(repo), self.now()
        plan = self._open(repo, plan_id)
        return {"plan": plans.close(repo, plan, reason=reason, author=author, now=now,
                                    note=note)}

    # -- templates -------------------------------------------------------------------------

    def apply(self, repo: Repository, *, plan_definition_id: str | None,
              canonical: str | None, patient_id: str | None, encounter_id: str | None,
              plan_id: str | None, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        author = author_of(repo)
        if plan_definition_id:
            template = templates.load(repo, plan_definition_id)
        elif canonical:
            template = templates.resolve(repo, canonical)
        else:
            raise BusinessRuleViolation("Name the template: PlanDefinition/{id}/$apply or "
                                        "'url' (canonical, optionally |version)")
        plan = self._target_plan(repo, patient_id, encounter_id, plan_id)
        for rtype in ("CarePlan", "Goal", "Condition"):
            repo.authorize("create", rtype)
            repo.authorize("update", rtype)
        return apply.apply(repo, template=template, plan=plan, author=author, now=self.now(),
                           exclude=exclude)

    def _target_plan(self, repo: Repository, patient_id: str | None,
                     encounter_id: str | None, plan_id: str | None) -> dict[str, Any]:
        if plan_id:
            plan = plans.load(repo, plan_id)
        elif encounter_id:
            ids = plans.active_plan_ids(repo, encounter_id)
            if not ids:
                raise BusinessRuleViolation(f"Encounter/{encounter_id} has no active care "
                                            "plan (start one with $careplan-start)")
            plan = plans.load(repo, ids[0])
        elif patient_id:
            found = plans.active_plan_of_patient(repo, patient_id)
            if found is None:
                raise BusinessRuleViolation(f"Patient/{patient_id} has no active care plan "
                                            "(start one with $careplan-start)")
            plan = found
        else:
            raise BusinessRuleViolation("Name the patient ('subject'), the episode "
                                        "('encounter') or the plan ('carePlan')")
        if patient_id and ref_id(plan.get("subject"), "Patient") != patient_id:
            raise BusinessRuleViolation(f"CarePlan/{plan['id']} is not Patient/{patient_id}'s")
        return plan

    def install_templates(self, repo: Repository) -> list[dict[str, Any]]:
        installed = templates.install(repo)
        for q in instruments.all_questionnaires():
            result = repo.create("Questionnaire", dict(q), if_none_exist=[
                ("url", q["url"]), ("version", q["version"])])
            installed.append(result.resource or {})
        return installed

    # -- assessments, attention, work lists -----------------------------------------------

    def assess(self, repo: Repository, *, patient_id: str, response: Any,
               encounter_id: str | None = None) -> dict[str, Any]:
        for rtype in ("QuestionnaireResponse", "Observation"):
            repo.authorize("create", rtype)
        return assessments.record(repo, patient_id=patient_id, response=response,
                                  author=author_of(repo), now=self.now(),
                                  encounter_id=encounter_id)

    def attention_signal(self, repo: Repository, *, patient_id: str) -> dict[str, Any]:
        items, notices = attention.signal(repo, patient_id)
        return attention.as_parameters(items, notices)

    def mark_attention(self, repo: Repository, *, patient_id: str, category: str,
                       severity: str, text: str | None,
                       condition_id: str | None) -> dict[str, Any]:
        author = author_of(repo)
        if fetch(repo, "Patient", patient_id) is None:
            raise NotFound(f"Patient/{patient_id} is not known")
        return attention.mark_attention(repo, patient_id=patient_id, category=category,
                                        severity=severity, author=author, now=self.now(),
                                        text=text, condition_id=condition_id)

    def worklist(self, repo: Repository, *, unit: str | None,
                 only: str | None = None) -> dict[str, Any]:
        if only is not None and only not in worklists.LISTS:
            raise BusinessRuleViolation(f"list must be one of {', '.join(worklists.LISTS)}")
        org = worklists.unit_of(repo, unit)
        now = self.now()
        return worklists.as_parameters(org, worklists.build(repo, unit=org, now=now), now,
                                       only)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _in_plan(plan: dict[str, Any], element: str, rtype: str, ids: list[str]) -> None:
        listed = {ref_id(r, rtype) for r in plan.get(element) or []}
        missing = [i for i in ids if i not in listed]
        if missing:
            raise BusinessRuleViolation(f"{', '.join(f'{rtype}/{i}' for i in missing)} "
                                        f"is not in CarePlan/{plan['id']}")

    @staticmethod
    def _goal(repo: Repository, plan: dict[str, Any], goal_id: str) -> dict[str, Any]:
        CarePlanService._in_plan(plan, "goal", "Goal", [goal_id])
        goal = fetch(repo, "Goal", goal_id)
        if goal is None:
            raise NotFound(f"Goal/{goal_id} is not known")
        return content(goal)


def _goal_note(goal: dict[str, Any], text: str, author: Any, now: datetime) -> dict[str, Any]:
    note: dict[str, Any] = {"text": text, "time": iso(now)}
    if author.practitioner:
        note["authorReference"] = {"reference": author.practitioner}
    mark(note, author, now)
    goal.setdefault("note", []).append(note)
    return note
