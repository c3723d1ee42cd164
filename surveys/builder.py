"""The survey builder: console pages to define surveys (editor) and look at them (viewer).

Every change goes through ``surveys.services`` and ``surveys.settings``, so the rules live
there: only a draft version changes; a published survey is changed by starting its next
version ("edit"), which residents get once it is published. Every problem the checks find is
shown at its field. Changes are audited (``survey.create``, ``survey.update``,
``survey.import``, ``survey.publish``, ``survey.close``, ``survey.delete``,
``survey.export``). Forms carry the version's revision: a form filled in before someone else
changed the survey is refused instead of silently undoing their change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.console import console_blueprint
from bot.console.audit import record
from bot.console.forms import EmptyForm
from bot.console.roles import Permission, requires
from bot.work import request_session
from models.base import utcnow
from models.surveys import Survey, SurveyStatus, SurveyVersion
from surveys import forms, preview
from surveys.definition import Definition, DefinitionError, Problem, Question, definition_of
from surveys.forms import KIND_LABELS, LANGUAGE_LABELS, UploadForm, form_languages
from surveys.kinds import KINDS, localized
from surveys.services import (
    SurveyStateError,
    close,
    create_survey,
    draft_version,
    import_survey,
    publish,
    save_definition,
)
from surveys.settings import Settings, check_settings, settings_of, update_settings

bp = console_blueprint("surveys_builder", __name__, "/admin/surveys", template_folder="templates")
#: The builder's script and styles (public files, outside the console's signed-in pages).
assets = Blueprint(
    "surveys_assets", __name__, static_folder="static", static_url_path="/static/surveys"
)
EDIT = Permission.SURVEYS_EDIT
LOOK = Permission.RESULTS


# -- helpers ------------------------------------------------------------------------------------


def _survey(survey_id: int) -> Survey:
    """The survey, locked for the request's changes (404 if there is none)."""
    lock = request.method == "POST"
    survey = request_session().get(Survey, survey_id, with_for_update=lock)
    if survey is None:
        abort(404)
    return survey


def _shown(survey: Survey) -> SurveyVersion:
    """The version the pages show: the draft being edited, else the published one."""
    return survey.draft or survey.current_version or survey.versions[-1]


def _definition(survey: Survey) -> Definition:
    return definition_of(_shown(survey), survey.default_language)


def revision(definition: Definition) -> str:
    """A short fingerprint of a definition: forms carry it to detect changes meanwhile."""
    data = json.dumps(asdict(definition), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


def _show(survey: Survey, anchor: str | None = None) -> Response:
    target = url_for(".show", survey_id=survey.id)
    return redirect(f"{target}#{anchor}" if anchor else target)  # type: ignore[return-value]


def _editable(survey: Survey) -> Definition | None:
    """The draft's definition when the survey may be edited now; else None (with a notice
    flashed): a closed survey, or a published one whose next version is not started."""
    if survey.status == SurveyStatus.CLOSED:
        flash(_("A closed survey cannot change."), "error")
        return None
    if survey.draft is None:
        flash(_("This survey is published: start a new version to change it."), "error")
        return None
    return definition_of(survey.draft, survey.default_language)


def _fresh(definition: Definition) -> bool:
    """Whether the posted form was filled in on this very definition (else flash)."""
    if EmptyForm().validate_on_submit() and request.form.get("revision") == revision(definition):
        return True
    flash(
        _(
            "The survey was changed meanwhile (or the form expired): nothing was saved. "
            "Here it is as it is now."
        ),
        "error",
    )
    return False


def _audited(action: str, survey_id: int, **detail: Any) -> None:
    """Record a change to a survey in the audit log (committed with the request)."""
    record(request_session(), action, object_type="survey", object_id=survey_id, detail=detail)


def _save(survey: Survey, definition: Definition, change: str, **detail: Any) -> list[Problem]:
    """Save the draft; the problems if it cannot be (nothing changes then)."""
    try:
        version = save_definition(request_session(), survey, definition)
    except DefinitionError as error:
        return error.problems
    _audited("survey.update", survey.id, version=version.number, change=change, **detail)
    return []


def errors_by_field(problems: Sequence[Problem], subject: str | None) -> dict[str, list[str]]:
    """The problems of ``subject`` by field (``label``, ``choices.2`` for option rows...)."""
    found: dict[str, list[str]] = {}
    for problem in problems:
        if problem.subject == subject:
            found.setdefault(problem.field, []).append(problem.message)
    return found


def _others(problems: Sequence[Problem], subject: str | None) -> list[Problem]:
    return [p for p in problems if p.subject != subject]


def _common() -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "language_labels": LANGUAGE_LABELS,
        "kinds": KINDS,
        "status_label": status_label,
    }


# -- the list, creating, importing ----------------------------------------------------------------


@bp.get("/")
@requires(LOOK)
def index() -> str:
    """Every survey: status, responses, open and close times."""
    query = select(Survey).options(selectinload(Survey.versions)).order_by(Survey.id.desc())
    surveys = request_session().scalars(query).all()
    return render_template("surveys/index.html", surveys=surveys, shown=_shown, **_common())


@bp.route("/new", methods=["GET", "POST"])
@requires(EDIT)
def new() -> ResponseReturnValue:
    """A new survey: its title and first question."""
    languages = ["ja", "en"]
    kind = _posted_kind("single_choice")
    question: Question | None = None
    problems: list[Problem] = []
    option_rows: Sequence[int] = ()
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        read = forms.read_question(request.form, languages, kind)
        question, option_rows = read.question, read.option_rows
        if "change_kind" not in request.form:
            definition = Definition(
                title=forms.texts(request.form, "title", languages), questions=(question,)
            )
            problems = read.problems
            survey = None
            if not problems:
                try:
                    survey = create_survey(request_session(), definition, created_by_id=_staff_id())
                except DefinitionError as error:
                    problems = error.problems
            if survey is not None:
                _audited("survey.create", survey.id, version=1)
                flash(_("The survey has been created as a draft."), "info")
                return _show(survey)
    name = question.name if question else ""
    return render_template(
        "surveys/new.html",
        languages=languages,
        kind=kind,
        question=question,
        title_values=forms.texts(request.form, "title", languages),
        choice_rows=forms.choice_rows(question, kind),
        earlier=[],
        errors=errors_by_field(problems, None),
        question_errors=_option_errors(errors_by_field(problems, name), option_rows),
        empty_form=EmptyForm(),
        **_common(),
    )


def _staff_id() -> int | None:
    return int(current_user.id) if current_user.is_authenticated else None


def _upload() -> tuple[Any, list[str]]:
    """The uploaded workbook read, or the problems to show (file problems at their cells)."""
    # pyxform and openpyxl are imported when a workbook is read or written, so processes
    # that never do (webhook workers) do not carry their ~40 MB.
    from surveys.xlsform import MAX_FILE_BYTES, XlsFormError, read_survey

    request.max_content_length = MAX_FILE_BYTES + 64 * 1024
    form = UploadForm()
    if not form.validate_on_submit():
        return None, [str(e) for errors in form.errors.values() for e in errors]
    upload = form.file.data
    try:
        return read_survey(upload.stream, filename=upload.filename or "survey.xlsx"), []
    except XlsFormError as error:
        return None, [str(problem) for problem in error.problems]


@bp.route("/import", methods=["GET", "POST"])
@requires(EDIT)
def import_new() -> ResponseReturnValue:
    """A new survey from an XLSForm workbook (the same checks as ``madoguchi surveys import``)."""
    problems: list[str] = []
    if request.method == "POST":
        survey_file, problems = _upload()
        if survey_file is not None:
            session = request_session()
            survey = import_survey(session, survey_file, created_by_id=_staff_id())
            _audited("survey.import", survey.id, questions=len(survey_file.definition.questions))
            flash(_("The workbook has been imported as a new draft survey."), "info")
            return _show(survey)
    return render_template("surveys/import.html", survey=None, form=UploadForm(), problems=problems)


# -- one survey ---------------------------------------------------------------------------------


@bp.get("/<int:survey_id>")
@requires(LOOK)
def show(survey_id: int) -> str:
    """A survey: its settings and questions; for editors, everything to change them."""
    survey = _survey(survey_id)
    definition = _definition(survey)
    return render_template(
        "surveys/show.html",
        survey=survey,
        version=_shown(survey),
        definition=definition,
        settings=settings_of(survey),
        revision=revision(definition),
        empty_form=EmptyForm(),
        local=forms.local_input,
        **_common(),
    )


@bp.post("/<int:survey_id>/edit")
@requires(EDIT)
def start_version(survey_id: int) -> ResponseReturnValue:
    """Start the next version of a published survey (residents keep the published one)."""
    survey = _survey(survey_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if survey.draft is not None:  # started already (by a colleague, or a second click)
        return _show(survey)
    try:
        version = draft_version(request_session(), survey)
    except SurveyStateError:
        flash(_("A closed survey cannot change."), "error")
        return _show(survey)
    _audited("survey.update", survey.id, version=version.number, change="new version")
    flash(
        _(
            "Version %(number)d has been started. Residents keep answering the published "
            "version until you publish this one.",
            number=version.number,
        ),
        "info",
    )
    return _show(survey)


@bp.route("/<int:survey_id>/texts", methods=["GET", "POST"])
@requires(EDIT)
def texts(survey_id: int) -> ResponseReturnValue:
    """The survey's title, introduction and thank-you text, and its default language."""
    survey = _survey(survey_id)
    definition = _editable(survey)
    if definition is None:
        return _show(survey)
    languages = form_languages(definition)
    problems: list[Problem] = []
    if request.method == "POST" and _fresh(definition):
        default = request.form.get("default_language", definition.default_language)
        changed = replace(
            definition,
            title=forms.texts(request.form, "title", languages),
            intro=forms.texts(request.form, "intro", languages),
            thanks=forms.texts(request.form, "thanks", languages),
            default_language=default if default in languages else definition.default_language,
        )
        problems = _save(survey, changed, "texts")
        if not problems:
            flash(_("The texts have been saved."), "info")
            return _show(survey)
        definition = changed
    elif request.method == "POST":
        return _show(survey)
    return render_template(
        "surveys/texts.html",
        survey=survey,
        definition=definition,
        languages=languages,
        revision=revision(_definition(survey)),
        errors=errors_by_field(problems, None),
        others=_others(problems, None),
        empty_form=EmptyForm(),
        **_common(),
    )


@bp.route("/<int:survey_id>/settings", methods=["GET", "POST"])
@requires(EDIT)
def settings(survey_id: int) -> ResponseReturnValue:
    """Answers per resident, anonymity, limits, quotas, audience, times, the reminder."""
    survey = _survey(survey_id)
    if survey.status == SurveyStatus.CLOSED:
        flash(_("A closed survey cannot change."), "error")
        return _show(survey)
    current = settings_of(survey)
    shown: Settings = current
    problems: list[Problem] = []
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        shown, problems = forms.read_settings(request.form)
        unread = {(p.subject, p.field) for p in problems}
        problems += [p for p in check_settings(survey, shown) if (p.subject, p.field) not in unread]
        if not problems:
            update_settings(request_session(), survey, shown)
            _audited("survey.update", survey.id, change="settings")
            flash(_("The settings have been saved."), "info")
            return _show(survey)
    quota_errors = {q.name: errors_by_field(problems, q.name) for q in shown.quotas}
    return render_template(
        "surveys/settings.html",
        survey=survey,
        settings=shown,
        errors=errors_by_field(problems, None),
        quota_errors=quota_errors,
        quota_rows=list(shown.quotas) + [None] * forms.SPARE_ROWS,
        audience=forms.audience_text(shown.audience),
        local=forms.local_input,
        empty_form=EmptyForm(),
        **_common(),
    )


# -- questions ----------------------------------------------------------------------------------


def _question_page(
    survey: Survey,
    definition: Definition,
    question: Question | None,
    kind: str,
    problems: Sequence[Problem],
    option_rows: Sequence[int] = (),
    at: str | None = None,
) -> ResponseReturnValue:
    """A question's form: ``question`` as typed (its problems at their fields); ``at`` is
    the name of the question being edited (the earlier questions are those before it)."""
    name = question.name if question else None
    errors = _option_errors(errors_by_field(problems, name or ""), option_rows)
    position = next((i for i, q in enumerate(definition.questions) if q.name == at), None)
    earlier = definition.questions[:position] if position is not None else definition.questions
    return render_template(
        "surveys/question.html",
        survey=survey,
        definition=definition,
        question=question,
        kind=kind,
        languages=form_languages(definition),
        choice_rows=forms.choice_rows(question, kind),
        earlier=[q for q in earlier if KINDS[q.kind].answered and q.name not in (name, at)],
        revision=revision(_definition(survey)),
        errors=errors,
        others=_others(problems, name or ""),
        empty_form=EmptyForm(),
        **_common(),
    )


def _option_errors(
    errors: dict[str, list[str]], option_rows: Sequence[int]
) -> dict[str, list[str]]:
    """Errors of the options ("option 3: ...") moved to the form row of that option."""
    for message in errors.pop("choices", []):
        found = forms.OPTION.search(message)
        number = int(found.group(1)) if found else 0
        row = option_rows[number - 1] if 0 < number <= len(option_rows) else None
        errors.setdefault(f"choices.{row}" if row is not None else "choices", []).append(message)
    return errors


def _question_or_404(definition: Definition, name: str) -> Question:
    question = definition.question(name)
    if question is None:
        abort(404)
    return question


def _posted_kind(default: str) -> str:
    kind = request.form.get("kind") or request.args.get("kind") or default
    return kind if kind in KINDS else default


@bp.route("/<int:survey_id>/questions/new", methods=["GET", "POST"])
@requires(EDIT)
def question_new(survey_id: int) -> ResponseReturnValue:
    """Add a question (at the end, or at the end of its section)."""
    survey = _survey(survey_id)
    definition = _editable(survey)
    if definition is None:
        return _show(survey)
    kind = _posted_kind("single_choice")
    if request.method == "GET" or "change_kind" in request.form:
        draft = _draft_from_form(definition, kind) if request.method == "POST" else None
        return _question_page(survey, definition, draft, kind, [])
    if not _fresh(definition):
        return _show(survey)
    read = forms.read_question(request.form, form_languages(definition), kind)
    changed = forms.place_question(definition, read.question, None)
    name = read.question.name
    problems = read.problems or _save(survey, changed, "question added", question=name)
    if problems:
        return _question_page(survey, definition, read.question, kind, problems, read.option_rows)
    flash(_("The question has been added."), "info")
    return _show(survey, f"q-{read.question.name}")


def _draft_from_form(definition: Definition, kind: str) -> Question:
    """What the form holds, as the other kind (after "change kind": nothing saved yet)."""
    return forms.read_question(request.form, form_languages(definition), kind).question


@bp.route("/<int:survey_id>/q/<name>", methods=["GET", "POST"])
@requires(EDIT)
def question_edit(survey_id: int, name: str) -> ResponseReturnValue:
    """Edit a question of the draft (its kind, texts, logic and settings)."""
    survey = _survey(survey_id)
    definition = _editable(survey)
    if definition is None:
        return _show(survey)
    question = _question_or_404(definition, name)
    kind = _posted_kind(question.kind)
    if request.method == "GET":
        return _question_page(survey, definition, question, kind, [], at=name)
    if "change_kind" in request.form:
        return _question_page(
            survey, definition, _draft_from_form(definition, kind), kind, [], at=name
        )
    if not _fresh(definition):
        return _show(survey)
    read = forms.read_question(request.form, form_languages(definition), kind)
    changed = forms.place_question(definition, read.question, name)
    problems = read.problems or _save(survey, changed, "question changed", question=name)
    if problems:
        return _question_page(
            survey, definition, read.question, kind, problems, read.option_rows, at=name
        )
    flash(_("The question has been saved."), "info")
    return _show(survey, f"q-{read.question.name}")


@bp.route("/<int:survey_id>/q/<name>/delete", methods=["GET", "POST"])
@requires(EDIT)
def question_delete(survey_id: int, name: str) -> ResponseReturnValue:
    """Delete a question of the draft (after confirming)."""
    survey = _survey(survey_id)
    definition = _editable(survey)
    if definition is None:
        return _show(survey)
    question = _question_or_404(definition, name)
    problems: list[Problem] = []
    if request.method == "POST" and _fresh(definition):
        changed = forms.without_question(definition, name)
        problems = _save(survey, changed, "question deleted", question=name)
        if not problems:
            flash(_("The question has been deleted."), "info")
            return _show(survey, "questions")
    elif request.method == "POST":
        return _show(survey)
    return render_template(
        "surveys/confirm.html",
        survey=survey,
        action="delete_question",
        subject=question,
        problems=problems,
        revision=revision(definition),
        empty_form=EmptyForm(),
        **_common(),
    )


@bp.post("/<int:survey_id>/q/<name>/move")
@requires(EDIT)
def question_move(survey_id: int, name: str) -> ResponseReturnValue:
    """Move a question up or down one place (the keyboard's way; works without script)."""
    survey = _survey(survey_id)
    definition = _editable(survey)
    if definition is None or not _fresh(definition):
        return _show(survey)
    _question_or_404(definition, name)
    offset = -1 if request.form.get("direction") == "up" else 1
    problems = _save(survey, forms.move(definition, name, offset), "questions reordered")
    for problem in problems:
        flash(_("Not moved: %(problem)s", problem=str(problem)), "error")
    return _show(survey, f"q-{name}")


@bp.post("/<int:survey_id>/order")
@requires(EDIT)
def reorder(survey_id: int) -> ResponseReturnValue:
    """Put the questions in a new order (dragging them; answers JSON)."""
    survey = _survey(survey_id)
    if survey.draft is None or survey.status == SurveyStatus.CLOSED:
        return jsonify(problems=[_("This survey cannot change now.")]), 409
    definition = definition_of(survey.draft, survey.default_language)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if request.form.get("revision") != revision(definition):
        return jsonify(problems=[_("The survey was changed meanwhile: reload the page.")]), 409
    changed = forms.reorder(definition, request.form.getlist("order"))
    if changed is None:
        return jsonify(problems=[_("The order must list every question once.")]), 400
    problems = _save(survey, changed, "questions reordered")
    if problems:
        return jsonify(problems=[str(problem) for problem in problems]), 400
    return jsonify(revision=revision(changed))


# -- sections -----------------------------------------------------------------------------------


def _section_page(
    survey: Survey,
    definition: Definition,
    section: Any,
    members: Sequence[str],
    problems: Sequence[Problem],
) -> ResponseReturnValue:
    name = section.name if section else ""
    return render_template(
        "surveys/section.html",
        survey=survey,
        definition=definition,
        section=section,
        members=set(members),
        languages=form_languages(definition),
        revision=revision(_definition(survey)),
        errors=errors_by_field(problems, name),
        others=_others(problems, name),
        empty_form=EmptyForm(),
        **_common(),
    )


@bp.route("/<int:survey_id>/sections/new", methods=["GET", "POST"])
@bp.route("/<int:survey_id>/s/<name>", methods=["GET", "POST"])
@requires(EDIT)
def section(survey_id: int, name: str | None = None) -> ResponseReturnValue:
    """Add or edit a section (a group of questions with a shared show-if condition)."""
    survey = _survey(survey_id)
    definition = _editable(survey)
    if definition is None:
        return _show(survey)
    current = next((s for s in definition.sections if s.name == name), None)
    if name is not None and current is None:
        abort(404)
    members = [q.name for q in definition.questions if q.section == name] if name else []
    if request.method == "GET":
        return _section_page(survey, definition, current, members, [])
    if not _fresh(definition):
        return _show(survey)
    read, chosen = forms.read_section(request.form, form_languages(definition))
    problems: list[Problem] = []
    if not chosen:
        problems.append(Problem(read.name, "questions", _("choose the questions it holds")))
    else:
        changed = forms.place_section(definition, read, name, chosen)
        problems = _save(survey, changed, "section saved", section=read.name)
    if problems:
        return _section_page(survey, definition, read, chosen, problems)
    flash(_("The section has been saved."), "info")
    return _show(survey, "questions")


@bp.post("/<int:survey_id>/s/<name>/delete")
@requires(EDIT)
def section_delete(survey_id: int, name: str) -> ResponseReturnValue:
    """Remove a section; its questions stay, in the section around it if any."""
    survey = _survey(survey_id)
    definition = _editable(survey)
    if definition is None or not _fresh(definition):
        return _show(survey)
    if not any(s.name == name for s in definition.sections):
        abort(404)
    problems = _save(
        survey, forms.remove_section(definition, name), "section removed", section=name
    )
    for problem in problems:
        flash(str(problem), "error")
    if not problems:
        flash(_("The section has been removed; its questions stay."), "info")
    return _show(survey, "questions")


# -- preview, publish, close, delete, files --------------------------------------------------------


@bp.get("/<int:survey_id>/preview")
@requires(LOOK)
def preview_page(survey_id: int) -> str:
    """The conversation as LINE shows it, in a language of the survey."""
    survey = _survey(survey_id)
    definition = _definition(survey)
    languages = definition.languages
    language = request.args.get("lang", definition.default_language)
    if language not in languages:
        language = definition.default_language
    default = definition.default_language
    return render_template(
        "surveys/preview.html",
        survey=survey,
        definition=definition,
        language=language,
        languages=languages,
        steps=preview.conversation(definition, language),
        title=localized(definition.title, language, default),
        intro=localized(definition.intro, language, default),
        thanks=localized(definition.thanks, language, default),
        **_common(),
    )


def _confirm(survey: Survey, action: str, problems: Sequence[Problem] = ()) -> ResponseReturnValue:
    return render_template(
        "surveys/confirm.html",
        survey=survey,
        action=action,
        subject=None,
        problems=problems,
        revision=revision(_definition(survey)),
        empty_form=EmptyForm(),
        **_common(),
    )


@bp.route("/<int:survey_id>/publish", methods=["GET", "POST"])
@requires(EDIT)
def publish_page(survey_id: int) -> ResponseReturnValue:
    """Publish the draft (after confirming): it is frozen and residents get it."""
    survey = _survey(survey_id)
    if survey.draft is None or survey.status == SurveyStatus.CLOSED:
        flash(_("There is no draft to publish."), "error")
        return _show(survey)
    if request.method == "GET":
        return _confirm(survey, "publish")
    if not _fresh(_definition(survey)):
        return _show(survey)
    try:
        version = publish(request_session(), survey, now=utcnow())
    except DefinitionError as error:
        return _confirm(survey, "publish", error.problems)
    _audited("survey.publish", survey.id, version=version.number)
    flash(_("Version %(number)d has been published.", number=version.number), "info")
    return _show(survey)


@bp.route("/<int:survey_id>/close", methods=["GET", "POST"])
@requires(EDIT)
def close_page(survey_id: int) -> ResponseReturnValue:
    """Close the survey (after confirming): no more answers; results stay."""
    survey = _survey(survey_id)
    if survey.status != SurveyStatus.OPEN:
        flash(_("Only an open survey can be closed."), "error")
        return _show(survey)
    if request.method == "GET":
        return _confirm(survey, "close")
    if not EmptyForm().validate_on_submit():
        abort(400)
    close(request_session(), survey, now=utcnow())
    _audited("survey.close", survey.id)
    flash(_("The survey has been closed."), "info")
    return _show(survey)


@bp.route("/<int:survey_id>/delete", methods=["GET", "POST"])
@requires(EDIT)
def delete_page(survey_id: int) -> ResponseReturnValue:
    """Delete a survey never published (after confirming); published ones are closed instead."""
    survey = _survey(survey_id)
    if survey.status != SurveyStatus.DRAFT:
        flash(_("A published survey cannot be deleted: close it instead."), "error")
        return _show(survey)
    if request.method == "GET":
        return _confirm(survey, "delete")
    if not EmptyForm().validate_on_submit():
        abort(400)
    request_session().delete(survey)
    _audited("survey.delete", survey_id)
    flash(_("The draft survey has been deleted."), "info")
    return redirect(url_for(".index"))


@bp.get("/<int:survey_id>/survey.xlsx")
@requires(LOOK)
def download(survey_id: int) -> ResponseReturnValue:
    """The survey as an XLSForm workbook (the version the page shows)."""
    survey = _survey(survey_id)
    version = _shown(survey)
    from surveys.xlsform import export_version

    data = export_version(survey, version)
    _audited("survey.export", survey.id, version=version.number, format="xlsform")
    return Response(
        data,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f"attachment; filename=survey-{survey.id}-v{version.number}.xlsx"
        },
    )


@bp.route("/<int:survey_id>/import", methods=["GET", "POST"])
@requires(EDIT)
def import_into(survey_id: int) -> ResponseReturnValue:
    """Replace the draft's texts and questions with a workbook's (settings stay as they are)."""
    survey = _survey(survey_id)
    if _editable(survey) is None:
        return _show(survey)
    problems: list[str] = []
    if request.method == "POST":
        survey_file, problems = _upload()
        if survey_file is not None:
            found = _save(survey, survey_file.definition, "imported")
            problems = [str(problem) for problem in found]
            if not problems:
                _audited(
                    "survey.import", survey.id, questions=len(survey_file.definition.questions)
                )
                flash(_("The workbook has replaced the draft's questions."), "info")
                return _show(survey)
    return render_template(
        "surveys/import.html", survey=survey, form=UploadForm(), problems=problems
    )


def status_label(survey: Survey) -> str:
    """How a survey's status reads in the console."""
    return {
        SurveyStatus.DRAFT: _("Draft"),
        SurveyStatus.OPEN: _("Published"),
        SurveyStatus.CLOSED: _("Closed"),
    }[survey.status]
