"""The main menu: the four features a resident can always reach, listed once.

Two menus show this list, in this order: the quick-reply main menu under most replies
(``bot.messages.with_main_menu``) and the default rich menu under the chat
(``bot.richmenu``). Having both means a resident without the rich menu (an old LINE client,
a menu not yet deployed) can still reach every feature.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString, lazy_gettext


@dataclass(frozen=True)
class MenuEntry:
    """One feature of the main menu: one quick-reply button and one rich-menu tile."""

    #: The postback action a tap sends (``v=1&a=<action>``).
    action: str
    #: Quick-reply label, translated into each resident's language when the reply is built;
    #: its English form is also the rich-menu tile's small subtitle.
    label: LazyString
    #: The rich-menu tile's large Japanese label, also what a tap on it writes in the chat.
    #: Written here rather than taken from the translation catalogs because the image is
    #: baked once for every resident: the deployed design must not depend on which catalogs
    #: happen to be compiled on the machine that deploys it.
    rich_menu_label: str
    #: The rich-menu tile's pictogram (a key of ``bot.richmenu.image.PICTOGRAMS``).
    pictogram: str


#: The four features, in menu order (left to right on the rich menu).
MAIN_MENU: tuple[MenuEntry, ...] = (
    MenuEntry("menu.surveys", lazy_gettext("Surveys"), "アンケート", "survey"),
    MenuEntry("menu.consultation", lazy_gettext("Consultation"), "相談", "consultation"),
    MenuEntry("menu.coupons", lazy_gettext("Coupons"), "クーポン", "coupon"),
    MenuEntry("menu.announcements", lazy_gettext("News"), "お知らせ", "news"),
)
