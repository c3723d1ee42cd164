"""Publish the webhook benchmark's survey in the database of ``DATABASE_URL``; print its id.

Run by ``bench/webhook.py`` (its survey-answering mix) with the server's environment. The
survey has eight questions of the kinds residents answer with buttons and with text.
"""

from __future__ import annotations

from bot import create_app
from models.base import utcnow
from surveys.definition import Definition, Question
from surveys.services import create_survey, publish


def _choices(*labels: str) -> dict[str, object]:
    return {
        "choices": [{"code": f"c{n}", "label": {"ja": label}} for n, label in enumerate(labels)]
    }


SURVEY = Definition(
    title={"ja": "ベンチマーク調査"},
    thanks={"ja": "ありがとうございました。"},
    questions=(
        Question("visited", "yes_no", {"ja": "県の窓口を利用しましたか？"}, required=True),
        Question(
            "channel",
            "single_choice",
            {"ja": "どの窓口ですか？"},
            config=_choices("県庁", "市役所", "電話", "LINE", "その他"),
        ),
        Question(
            "age",
            "integer",
            {"ja": "年齢は？"},
            config={"min": 0, "max": 120, "unit": {"ja": "歳"}},
        ),
        Question(
            "topics",
            "multiple_choice",
            {"ja": "関心のある分野は？"},
            config={**_choices("防災", "子育て", "観光", "交通"), "max": 3},
        ),
        Question("score", "range", {"ja": "満足度は？"}, config={"start": 1, "end": 5}),
        Question(
            "comment", "text", {"ja": "${channel}についてご意見を"}, config={"max_length": 200}
        ),
        Question(
            "again",
            "single_choice",
            {"ja": "また利用しますか？"},
            config=_choices("はい", "たぶん", "いいえ"),
        ),
        Question(
            "contact", "yes_no", {"ja": "連絡してもよいですか？"}, relevant="${visited} = 'yes'"
        ),
    ),
)


def main() -> None:
    """Create, publish and print the survey's id."""
    app = create_app()
    with app.app_context(), app.extensions["db"].unit_of_work() as session:
        survey = create_survey(session, SURVEY)
        publish(session, survey, now=utcnow())
        survey_id = survey.id
    print(survey_id)


if __name__ == "__main__":
    main()
