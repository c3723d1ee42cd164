"""Write the example XLSForm workbooks of examples/: ``python scripts/build_examples.py``.

* ``survey-template-ja.xlsx``: a Japanese template with one row of every question type the
  profile supports, a comment on each column header saying how to fill it, a drop-down of the
  types, and a 使い方 (how to) sheet;
* ``resident-satisfaction.xlsx``: a resident satisfaction survey in Japanese and English
  (anonymous);
* ``resident-profile.xlsx``: the resident profile survey (consent first; municipality from
  Gunma's 35 municipalities with their official codes, age band, interests, preferred
  language), whose answers set resident attributes (``madoguchi::attribute``).

The surveys are defined here and written by madoguchi's own exporter
(``surveys.xlsform.write_workbook``); tests/surveys/test_examples.py imports each file and
checks it is what this script writes.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.datavalidation import DataValidation

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.municipalities import GUNMA  # noqa: E402
from surveys.definition import Definition, Question, Section, normalised  # noqa: E402
from surveys.xlsform import SurveyOptions, write_workbook  # noqa: E402

EXAMPLES = ROOT / "examples"


def _choices(*options: tuple[str, str, str]) -> dict[str, list[dict[str, object]]]:
    """Options as (code, Japanese, English)."""
    return {"choices": [{"code": c, "label": {"ja": ja, "en": en}} for c, ja, en in options]}


def _ja(text: str) -> dict[str, str]:
    return {"ja": text}


# -- the template --------------------------------------------------------------------------


TEMPLATE = Definition(
    title=_ja("アンケートのひな形（ここに題名）"),
    intro=_ja("ご協力をお願いします。所要時間は約3分です。"),
    thanks=_ja("ご回答ありがとうございました。"),
    sections=(Section("about_visit", _ja("来庁について"), relevant="${visited} = 'yes'"),),
    questions=(
        Question(
            "consent",
            "acknowledge",
            _ja(
                "回答内容は統計的に処理し、個人は特定しません。"
                "同意いただける方は OK を押してください。"
            ),
            required=True,
        ),
        Question(
            "visited",
            "yes_no",
            _ja("この1年間に県庁の窓口を利用しましたか。"),
            config=_choices(("yes", "はい", "Yes"), ("no", "いいえ", "No")),
            required=True,
        ),
        Question(
            "counter",
            "single_choice",
            _ja("主に利用した窓口はどれですか。"),
            config=_choices(
                ("tax", "税", "Tax"),
                ("welfare", "福祉", "Welfare"),
                ("passport", "旅券", "Passport"),
                ("other", "その他", "Other"),
            ),
            section="about_visit",
        ),
        Question(
            "good_points",
            "multiple_choice",
            _ja("よかった点をすべて選んでください（2つまで）。"),
            hint=_ja("当てはまるものを選んでください"),
            config={
                **_choices(
                    ("staff", "職員の対応", "Staff"),
                    ("wait", "待ち時間", "Waiting time"),
                    ("guide", "案内表示", "Signs"),
                ),
                "min": 1,
                "max": 2,
            },
            section="about_visit",
        ),
        Question(
            "wait_minutes",
            "integer",
            _ja("待ち時間は何分でしたか。"),
            config={"min": 0, "max": 300, "unit": _ja("分")},
            section="about_visit",
        ),
        Question(
            "fee",
            "decimal",
            _ja("支払った手数料（千円単位、例: 2.5）"),
            config={"min": 0, "max": 100, "unit": _ja("千円")},
        ),
        Question(
            "rating",
            "range",
            _ja("総合的な満足度を 1〜5 で選んでください。"),
            hint=_ja("1: 不満 〜 5: 満足"),
            config={"start": 1, "end": 5, "step": 1},
            required=True,
        ),
        Question(
            "visit_day",
            "date",
            _ja("来庁した日"),
            config={"min": "2026-04-01", "max": "2027-03-31"},
        ),
        Question(
            "visit_time", "time", _ja("来庁した時刻"), config={"min": "08:30", "max": "17:15"}
        ),
        Question("next_visit", "datetime", _ja("次に来庁する予定の日時（任意）")),
        Question("photo", "photo", _ja("案内表示など、気になった場所の写真（任意）")),
        Question("place", "location", _ja("気になった場所（位置情報、任意）")),
        Question(
            "opinion",
            "text",
            _ja("${rating}点とした理由をお書きください。"),
            config={"max_length": 400},
            constraint="string-length(.) >= 5",
            constraint_message=_ja("5文字以上でお書きください。"),
        ),
        Question(
            "end_note", "note", _ja("質問は以上です。このあと回答を確認して送信してください。")
        ),
    ),
)

#: How to fill each column of the template (a comment on its header cell).
COLUMN_HELP: Mapping[str, str] = {
    "type": (
        "質問の種類。select_one リスト名 / select_multiple リスト名 / text / integer / decimal / "
        "range / date / time / dateTime / image / geopoint / note / acknowledge。"
        "まとまりは begin_group と end_group で囲みます。"
        "yes と no だけのリストの select_one は「はい／いいえ」になります。"
    ),
    "name": "質問の名前（英字で始まる英数字と _）。条件では ${名前} と書きます。重複不可。",
    "label::日本語 (ja)": "質問文（日本語、必須）。${名前} で前の回答を差し込めます。",
    "label::English (en)": "質問文（英語、任意）。同じ形で label::中文 (zh) なども追加できます。",
    "hint::日本語 (ja)": "質問の下に出す補足（任意）。",
    "required": "回答を必須にするときは yes。",
    "relevant": "表示条件（任意）。例: ${visited} = 'yes'、selected(${good_points}, 'wait')",
    "constraint": "回答の条件（任意）。「.」がこの回答。例: . >= 0 and . <= 120",
    "constraint_message::日本語 (ja)": "条件を満たさないときのメッセージ（任意）。",
    "parameters": "range の範囲: start=1 end=5 step=1",
    "madoguchi::min": "madoguchi 独自: 整数・数値の最小値、日付・時刻の最早値、複数選択の最少数。",
    "madoguchi::max": "madoguchi 独自: 最大値・最遅値・最多数。",
    "madoguchi::max_length": "madoguchi 独自: 自由記述の最大文字数（既定 500）。",
    "madoguchi::unit::日本語 (ja)": "madoguchi 独自: 数値の後に付ける単位（例: 分、歳）。",
    "madoguchi::attribute": "madoguchi 独自: 回答を県民の属性として保存する名前（例: area）。",
    "list_name": "リスト名。survey シートの select_one / select_multiple の後に書く名前です。",
    "label": "選択肢の表示名。",
    "form_title": "アンケートの題名（必須）。",
    "default_language": "既定の言語。日本語 (ja) のまま使ってください。",
    "madoguchi::anonymous": "madoguchi 独自: 匿名にするなら yes（属性は設定できなくなります）。",
    "madoguchi::one_answer": "madoguchi 独自: 1人1回答なら yes、何度でも回答できるなら no。",
    "madoguchi::estimated_minutes": "madoguchi 独自: 所要時間の目安（分）。",
    "madoguchi::intro::日本語 (ja)": "madoguchi 独自: 最初の質問の前に表示する文。",
    "madoguchi::thanks::日本語 (ja)": "madoguchi 独自: 送信後に表示するお礼の文。",
}

HOW_TO: Sequence[tuple[str, str]] = (
    (
        "このファイルについて",
        "madoguchi のアンケートを Excel で作るためのひな形です（XLSForm 形式）。"
        "各列の見出しにコメントで書き方があります。",
    ),
    (
        "取り込み方",
        "管理画面の「アンケート」→「XLSForm ワークブックを取り込む」、または "
        "madoguchi surveys import ファイル.xlsx",
    ),
    (
        "エラーのとき",
        "すべての問題がシート・行・列つきで表示され、何も取り込まれません。"
        "例: survey!D7 (relevant): ${age} is not an earlier question",
    ),
    ("select_one リスト名", "1つを選ぶ質問。選択肢は choices シートの同じ list_name の行です。"),
    ("select_multiple リスト名", "複数を選ぶ質問。madoguchi::min / max で選ぶ数を決められます。"),
    ("text", "自由記述。madoguchi::max_length で最大文字数。"),
    ("integer / decimal", "整数 / 小数。madoguchi::min / max / unit で範囲と単位。"),
    ("range", "評価（例: 1〜5）。parameters に start=1 end=5 step=1。"),
    (
        "date / time / dateTime",
        "日付 / 時刻 / 日時（LINE の日時選択）。madoguchi::min / max で範囲。",
    ),
    ("image", "写真（LINE で送られた画像）。"),
    ("geopoint", "位置情報（LINE の位置情報）。"),
    ("note", "説明だけで回答はありません。"),
    ("acknowledge", "OK ボタン1つ（同意の確認など）。"),
    (
        "begin_group / end_group",
        "まとまり（セクション）。relevant はまとまり内のすべての質問に効きます。",
    ),
    (
        "使えないもの",
        "repeat（繰り返し）、calculate、geotrace、geoshape、or_other、choice_filter、"
        "外部選択肢、画像・音声の列、barcode、rank などは取り込み時にエラーになります。",
    ),
    (
        "madoguchi:: の列",
        "madoguchi 独自の列です（ほかの XLSForm ツールは使いません）: min / max / "
        "max_length / unit（設定）、attribute（回答を県民の属性として保存。"
        "例: municipality。resident-profile.xlsx を参照）。",
    ),
    ("詳しくは", "docs/surveys.md（XLSForm の対応範囲）"),
)


def _template() -> bytes:
    """The template: the exporter's workbook with help added for people filling it in."""
    data = write_workbook(normalised(TEMPLATE), SurveyOptions(estimated_minutes=3))
    book = openpyxl.load_workbook(io.BytesIO(data))
    for sheet in book.worksheets:
        for cell in sheet[1]:
            help_text = COLUMN_HELP.get(str(cell.value))
            if help_text:
                comment = Comment(help_text, "madoguchi")
                comment.width, comment.height = 320, 140
                cell.comment = comment
    survey = book["survey"]
    types = DataValidation(
        type="list",
        formula1='"select_one,select_multiple,text,integer,decimal,range,date,time,dateTime,'
        'image,geopoint,note,acknowledge,begin_group,end_group"',
        allow_blank=True,
        showErrorMessage=False,  # select_one needs its list's name after it
        promptTitle="type",
        prompt="一覧から選ぶか、select_one リスト名 のように入力します。",
        showInputMessage=True,
    )
    survey.add_data_validation(types)
    types.add("A2:A500")
    how_to = book.create_sheet("使い方", 0)
    how_to.append(["項目", "説明"])
    for row in HOW_TO:
        how_to.append(list(row))
    for cell in how_to[1]:
        cell.font = Font(bold=True)
    how_to.column_dimensions["A"].width = 28
    how_to.column_dimensions["B"].width = 100
    for row in how_to.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    book.active = 1  # open on the survey sheet
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# -- the resident satisfaction survey -------------------------------------------------------


def _both(ja: str, en: str) -> dict[str, str]:
    return {"ja": ja, "en": en}


SATISFACTION = Definition(
    title=_both("県民満足度アンケート", "Resident satisfaction survey"),
    intro=_both(
        "県の窓口と LINE 公式アカウントについて、満足度をお聞かせください。匿名で、約3分です。",
        "Tell us how satisfied you are with the prefecture's services and this LINE account. "
        "It is anonymous and takes about 3 minutes.",
    ),
    thanks=_both(
        "ご回答ありがとうございました。今後の県政に生かします。",
        "Thank you for your answers. We will use them to improve our services.",
    ),
    sections=(
        Section(
            "line_use",
            _both("LINE の利用について", "About using LINE"),
            relevant="selected(${channels}, 'line')",
        ),
    ),
    questions=(
        Question(
            "overall",
            "range",
            _both(
                "県のサービス全体の満足度は？（1: 不満 〜 5: 満足）",
                "How satisfied are you with the prefecture's services overall? "
                "(1: not at all - 5: very)",
            ),
            required=True,
            config={"start": 1, "end": 5, "step": 1},
        ),
        Question(
            "channels",
            "multiple_choice",
            _both(
                "この1年間に使った県への連絡手段をすべて選んでください。",
                "Which ways of contacting the prefecture did you use in the past year?",
            ),
            config=_choices(
                ("counter", "窓口", "A counter in person"),
                ("phone", "電話", "Phone"),
                ("web", "ホームページ", "The website"),
                ("line", "LINE", "LINE"),
                ("none", "使っていない", "None"),
            ),
            constraint="not(selected(., 'none') and count-selected(.) > 1)",
            constraint_message=_both(
                "「使っていない」はほかと一緒に選べません。", "'None' cannot be chosen with others."
            ),
            required=True,
        ),
        Question(
            "line_easy",
            "single_choice",
            _both(
                "LINE での手続きや問い合わせは分かりやすかったですか。",
                "Was using LINE for procedures and questions easy to understand?",
            ),
            config=_choices(
                ("very", "とても分かりやすい", "Very easy"),
                ("fairly", "まあ分かりやすい", "Fairly easy"),
                ("hard", "分かりにくい", "Hard"),
            ),
            section="line_use",
        ),
        Question(
            "line_more",
            "yes_no",
            _both(
                "LINE でできる手続きを増やしてほしいですか。",
                "Would you like more procedures to be possible on LINE?",
            ),
            config=_choices(("yes", "はい", "Yes"), ("no", "いいえ", "No")),
            section="line_use",
        ),
        Question(
            "recommend",
            "range",
            _both(
                "この LINE 公式アカウントを家族や友人に勧めたいですか。（0〜10）",
                "How likely are you to recommend this LINE account to family and friends? (0-10)",
            ),
            config={"start": 0, "end": 10, "step": 1},
        ),
        Question(
            "age_band",
            "single_choice",
            _both("年代を教えてください。", "Your age group?"),
            config=_choices(
                ("0-19", "19歳以下", "19 or under"),
                ("20-39", "20〜39歳", "20-39"),
                ("40-59", "40〜59歳", "40-59"),
                ("60-", "60歳以上", "60 or over"),
            ),
        ),
        Question(
            "improve",
            "text",
            _both(
                "改善してほしい点があれば、ご自由にお書きください。（任意）",
                "Anything we should improve? (optional)",
            ),
            hint=_both(
                "個人が特定される内容は書かないでください。",
                "Please do not write anything that identifies you.",
            ),
            config={"max_length": 500},
        ),
    ),
)


# -- the resident profile survey ------------------------------------------------------------


PROFILE = Definition(
    title=_both("県民プロフィール登録", "Resident profile"),
    intro=_both(
        "お住まいの市町村などを登録すると、あなたに合ったお知らせやアンケートが届きます。"
        "いつでも登録し直せます。",
        "Register where you live and more, and we will send you news and surveys that fit you. "
        "You can register again at any time.",
    ),
    thanks=_both(
        "登録ありがとうございました。内容を変えるときは、もう一度このアンケートに回答してください。",
        "Thank you for registering. To change your answers, answer this survey again.",
    ),
    questions=(
        Question(
            "consent",
            "acknowledge",
            _both(
                "【個人情報の取り扱いへの同意】\n"
                "群馬県は、この登録で伺うお住まいの市町村・年代・関心のある分野・希望する言語を、"
                "あなたの LINE アカウントに合ったお知らせとアンケートを送るためだけに使います。"
                "ほかの目的には使わず、第三者に提供しません。回答は任意で、登録しなくても"
                "今までどおりご利用いただけます。登録内容はいつでも変更でき、削除を希望する場合は"
                "「相談」からお知らせください。\n"
                "同意いただける方は OK を押してください。",
                "[Consent to the use of your personal information]\n"
                "Gunma Prefecture uses the municipality, age group, interests and preferred "
                "language you register here only to send you news and surveys that fit your LINE "
                "account. They are used for no other purpose and not given to anyone else. "
                "Registering is optional: you can keep using this account as before without it. "
                "You can change your answers at any time; to have them deleted, tell us through "
                '"Consultation".\n'
                "If you agree, press OK.",
            ),
            required=True,
        ),
        Question(
            "municipality",
            "single_choice",
            _both("お住まいの市町村を選んでください。", "Which municipality do you live in?"),
            hint=_both(
                "県外にお住まいの方は、よく訪れる市町村を選んでください。",
                "If you live outside Gunma, choose the one you visit most.",
            ),
            required=True,
            config={
                "choices": [
                    {"code": m.code, "label": {"ja": m.name, "en": m.romaji}} for m in GUNMA
                ]
            },
            attribute="municipality",
        ),
        Question(
            "age_band",
            "single_choice",
            _both("年代を選んでください。", "Your age group?"),
            required=True,
            config=_choices(
                ("0-19", "19歳以下", "19 or under"),
                ("20-29", "20代", "20s"),
                ("30-39", "30代", "30s"),
                ("40-49", "40代", "40s"),
                ("50-59", "50代", "50s"),
                ("60-69", "60代", "60s"),
                ("70-79", "70代", "70s"),
                ("80-", "80歳以上", "80 or over"),
            ),
            attribute="age_band",
        ),
        Question(
            "interests",
            "multiple_choice",
            _both("関心のある分野をすべて選んでください。", "Which topics interest you?"),
            config=_choices(
                ("childcare", "子育て・教育", "Childcare and education"),
                ("health", "健康・医療・福祉", "Health, medical care and welfare"),
                ("disaster", "防災・安全", "Disaster prevention and safety"),
                ("tourism", "観光・イベント", "Tourism and events"),
                ("work", "仕事・産業", "Work and industry"),
                ("farming", "農業・林業", "Farming and forestry"),
                ("culture", "文化・スポーツ", "Culture and sports"),
                ("transport", "交通・まちづくり", "Transport and town planning"),
                ("environment", "環境", "Environment"),
            ),
        ),
        Question(
            "language",
            "single_choice",
            _both("お知らせを受け取りたい言語は？", "Which language would you like news in?"),
            config={
                "choices": [
                    {"code": "ja", "label": {"ja": "日本語", "en": "Japanese"}},
                    {"code": "en", "label": {"ja": "English（英語）", "en": "English"}},
                    {"code": "zh", "label": {"ja": "中文（中国語）", "en": "Chinese"}},
                    {"code": "ko", "label": {"ja": "한국어（韓国語）", "en": "Korean"}},
                    {"code": "vi", "label": {"ja": "Tiếng Việt（ベトナム語）", "en": "Vietnamese"}},
                    {
                        "code": "pt",
                        "label": {"ja": "Português（ポルトガル語）", "en": "Portuguese"},
                    },
                    {"code": "es", "label": {"ja": "Español（スペイン語）", "en": "Spanish"}},
                    {"code": "tl", "label": {"ja": "Tagalog（タガログ語）", "en": "Tagalog"}},
                ]
            },
            attribute="preferred_language",
        ),
    ),
)

#: Each example: its file and what it holds.
BUILDS: Mapping[str, tuple[Definition, SurveyOptions]] = {
    "resident-satisfaction.xlsx": (
        SATISFACTION,
        SurveyOptions(anonymous=True, one_answer=True, estimated_minutes=3),
    ),
    "resident-profile.xlsx": (
        PROFILE,
        SurveyOptions(anonymous=False, one_answer=False, estimated_minutes=2),
    ),
}


def build() -> dict[str, bytes]:
    """Every example workbook by file name."""
    files = {
        name: write_workbook(normalised(definition), options)
        for name, (definition, options) in BUILDS.items()
    }
    files["survey-template-ja.xlsx"] = _template()
    return files


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    for name, data in build().items():
        (EXAMPLES / name).write_bytes(data)
        print(f"wrote examples/{name}")


if __name__ == "__main__":
    main()
