"""Care plan pages: the plan started at admission, a template applied, interventions and goals
added per profession, and a Senior alert risk assessment whose score appears as you answer."""

from __future__ import annotations

import re

from test_web_ward import admit, ward_of
from web_support import World, csrf_of, post_form, sign_in, text_of

pytest_plugins = ("web_fixtures",)
NORTON_WORST = {"mental-status": "stuporous", "physical-activity": "bed-bound",
                "mobility": "immobile", "food-intake": "none", "fluid-intake": "none",
                "incontinence": "urine-and-faeces", "general-condition": "very-poor"}


def admitted_nurse(world: World):  # type: ignore[no-untyped-def]
    nurse = world.client()
    sign_in(nurse, world.staff["nurse"].hsa)
    admit(nurse, world, ward_of(nurse))
    return nurse


def test_a_template_applied_and_interventions_and_goals_per_profession(world: World) -> None:
    nurse = admitted_nurse(world)
    page = f"/web/patients/{world.patient}/careplan"
    r = nurse.get(page)
    plan = re.search(r'name="plan" value="([\w-]+)"', r.text)
    assert plan, text_of(r.text)  # the admission started the plan
    r = post_form(nurse, page, to=f"{page}/apply", plan=plan[1], template="")
    assert r.status_code == 400 and 'id="template-error"' in r.text
    r = post_form(nurse, page, to=f"{page}/apply", plan=plan[1],
                  template="https://vardnav.se/fhir/PlanDefinition/fall-prevention")
    text = text_of(r.text)
    assert "Mallen är tillämpad." in text and "Fysioterapeut" in text
    assert "(tillämpad)" in text  # not offered twice

    r = post_form(nurse, page, to=f"{page}/activity", plan=plan[1], description="",
                  profession="registered-nurse", followUp="snart")
    assert r.status_code == 400
    assert 'id="description-error"' in r.text and 'id="followUp-error"' in r.text
    r = post_form(nurse, page, to=f"{page}/activity", plan=plan[1],
                  description="Inspektera hud morgon och kväll", profession="dietitian",
                  followUp="2026-12-01", schedule="2 gånger/dag")
    rows = r.text.split('id="activities"')[1].split("</table>")[0]
    row = next(x for x in rows.split("<tr") if "Inspektera hud" in x)
    assert "Dietist" in row and "2026-12-01" in row and "2 gånger/dag" in row

    # Per profession: the nurse's own interventions only.
    mine = nurse.get(f"{page}?profession=mine").text.split('id="activities"')[1]
    mine = mine.split("</table>")[0]
    assert "Inspektera hud" not in mine and "Sjuksköterska" in mine
    assert "Fysioterapeut" not in mine

    r = post_form(nurse, page, to=f"{page}/goal", plan=plan[1], description="Inga fall")
    assert r.status_code == 400
    for name in ("goal-measure", "goal-target", "goal-dueDate"):
        assert f'id="{name}-error"' in r.text
    r = post_form(nurse, page, to=f"{page}/goal", plan=plan[1], description="Inga fall",
                  measure="Antal fall", target="0", dueDate="2026-12-10")
    goals = text_of(r.text.split('id="goals"')[1].split("</table>")[0])
    assert "Inga fall Antal fall 0 2026-12-10" in goals


def test_risk_assessment_scores_as_you_answer_and_proposes_interventions(
        world: World) -> None:
    nurse = admitted_nurse(world)
    page = f"/web/patients/{world.patient}/assessment/modified-norton"
    form = nurse.get(page)
    assert 'hx-post="' in form.text and 'id="score"' in form.text
    token = csrf_of(form.text)
    # The score as you answer (htmx): two answers so far, nothing stored.
    r = nurse.post(f"{page}/score", data={"csrf": token, "mental-status": "confused",
                                          "mobility": "immobile"},
                   headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert re.search(r'<span id="total">3</span>', r.text) and "2 frågor besvarade" in r.text
    # Saving with questions left out: a message next to each.
    r = nurse.post(page, data={"csrf": token, "mental-status": "confused"})
    assert r.status_code == 400 and 'id="mobility-error">Besvara frågan.' in r.text
    r = nurse.post(page, data={"csrf": token, **NORTON_WORST})
    text = text_of(r.text)
    assert "Riskbedömningen är sparad." in text
    assert "Modifierad Norton (trycksår) : 7 – Risk för trycksår" in text
    # Over the threshold: the pressure-ulcer template's interventions are proposed.
    assert "Föreslagen" in text and "Ta på planen" in text
    activity = re.search(r'name="activity" value="([^"]+)"', r.text)
    plan = re.search(r'name="plan" value="([\w-]+)"', r.text)
    r = nurse.post(f"/web/patients/{world.patient}/careplan/status", data={
        "csrf": csrf_of(r.text), "plan": plan[1], "activity": activity[1],  # type: ignore[index]
        "status": "scheduled"})
    assert "Insatsen är uppdaterad." in text_of(r.text)
    overview = text_of(nurse.get(f"/web/patients/{world.patient}").text)
    assert "Riskbedömningar: Modifierad Norton (trycksår) 7 (Risk för trycksår)" in overview


def test_risk_assessment_questions_and_levels_in_english(world: World) -> None:
    nurse = admitted_nurse(world)
    post_form(nurse, "/web/patients", to="/web/lang", lang="en", next="/web/patients")
    page = f"/web/patients/{world.patient}/assessment/downton"
    text = text_of(nurse.get(page).text)
    assert "Risk assessment: Downton (fall risk)" in text
    assert "Previous falls" in text and "Safe with walking aids" in text
    assert "Tidigare fall" not in text and "Gångförmåga" not in text
    # Codes and points are the Questionnaire's: the English page scores the same.
    r = post_form(nurse, page, **{"previous-falls": "yes", "medications": "sedatives",
                                  "sensory-deficits": "vision", "mental-state": "confused",
                                  "gait": "unsafe"})
    assert "Downton (fall risk) : 5 – High risk of falls" in text_of(r.text)


def test_every_risk_assessment_text_has_english() -> None:
    from vardnav.domains.careplan import instruments
    from vardnav.web.catalogue import ENGLISH, QUESTIONNAIRE_ENGLISH

    missing = []
    for key in instruments.INSTRUMENTS:
        for item in instruments.questionnaire(key)["item"]:
            if item["type"] != "choice":
                continue
            keys = [(key, item["linkId"], "")] + [
                (key, item["linkId"], o["valueCoding"]["code"]) for o in item["answerOption"]]
            missing += [k for k in keys if k not in QUESTIONNAIRE_ENGLISH]
        inst = instruments.INSTRUMENTS[key]
        for score in range(inst.low, inst.high + 1):
            if inst.level(score).display not in ENGLISH:
                missing.append((key, inst.level(score).display, ""))
    assert not missing


def test_goals_and_interventions_evaluated_and_a_goal_changed(world: World) -> None:
    nurse = admitted_nurse(world)
    page = f"/web/patients/{world.patient}/careplan"
    plan = re.search(r'name="plan" value="([\w-]+)"', nurse.get(page).text)[1]  # type: ignore[index]
    post_form(nurse, page, to=f"{page}/goal", plan=plan, description="Inga fall",
              measure="Antal fall", target="0", dueDate="2026-12-10")
    r = post_form(nurse, page, to=f"{page}/activity", plan=plan,
                  description="Gångträning dagligen", profession="registered-nurse")
    goal = re.search(r'<option value="Goal/([\w-]+)"', r.text)[1]  # type: ignore[index]
    activity = re.search(r'name="activity" value="([^"]+)"', r.text)[1]  # type: ignore[index]

    # Without the session's CSRF token nothing is stored.
    assert nurse.post(f"{page}/evaluate", data={
        "plan": plan, "target": "plan", "outcome": "improving",
        "text": "x"}).status_code == 403
    # Server-side validation: each message next to its field, the answers kept.
    r = post_form(nurse, page, to=f"{page}/evaluate", plan=plan, target="", outcome="bra",
                  text=" ", nextFollowUp="sen")
    assert r.status_code == 400
    for name in ("evaluate-target", "evaluate-outcome", "evaluate-text",
                 "evaluate-nextFollowUp"):
        assert f'id="{name}-error"' in r.text
        assert f'aria-describedby="{name}-error"' in r.text
    r = post_form(nurse, page, to=f"{page}/evaluate", plan=plan, target=f"Goal/{goal}",
                  outcome="improving", text="Inga fall senaste veckan",
                  nextFollowUp="2026-12-20")
    text = text_of(r.text)
    assert "Utvärderingen är sparad." in text and "Inga fall senaste veckan" in text
    assert "förbättras" in text_of(r.text.split('id="goals"')[1].split("</table>")[0])
    assert "Uppföljning: 2026-12-20" in text
    r = post_form(nurse, page, to=f"{page}/evaluate", plan=plan, target=activity,
                  outcome="sustaining", text="Går med rollator")
    row = next(x for x in r.text.split('id="activities"')[1].split("</table>")[0]
               .split("<tr") if "Gångträning" in x)
    assert "Går med rollator" in row
    # An activity the plan does not have: the engine's refusal, as a page message.
    r = post_form(nurse, page, to=f"{page}/evaluate", plan=plan, target="no-such",
                  outcome="sustaining", text="x")
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert "Traceback" not in r.text

    # Goal update: nothing to change, a bad date, then a new target and date.
    r = post_form(nurse, page, to=f"{page}/goal-update", plan=plan, goal=goal)
    assert r.status_code == 400 and 'id="update-description-error"' in r.text
    r = post_form(nurse, page, to=f"{page}/goal-update", plan=plan, goal="",
                  dueDate="imorgon")
    assert 'id="update-goal-error"' in r.text and 'id="update-dueDate-error"' in r.text
    r = post_form(nurse, page, to=f"{page}/goal-update", plan=plan, goal=goal,
                  target="högst 1", dueDate="2027-01-15")
    goals = text_of(r.text.split('id="goals"')[1].split("</table>")[0])
    assert "Målet är ändrat." in text_of(r.text)
    assert "högst 1" in goals and "2027-01-15" in goals
