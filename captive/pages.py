"""The portal's own pages: welcome with its "Entrer / Enter" form, and the confirmation.

Tiny, bilingual, no JavaScript, no external resource: they must work inside the iOS
sign-in sheet and on a cheap phone.  French first, English beside it.
"""

from __future__ import annotations

from html import escape

_STYLE = (
    "body{font:1.05rem/1.5 system-ui,sans-serif;max-width:34rem;margin:1rem auto;padding:0 1rem;"
    "color:#1d2b24;background:#fbfaf5}h1{font-size:1.5rem;color:#1f5c3a}"
    ".en{color:#4b5a52}button{font:inherit;font-weight:700;padding:.8rem 2rem;border:0;"
    "border-radius:.5rem;background:#1f5c3a;color:#fff}code{font-size:1.1em;"
    "background:#eef3ec;padding:.1rem .3rem}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def enter_form(action: str, fields: dict[str, str]) -> str:
    """The Enter form alone, so the visitor site can embed it in its own home page."""
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    return (
        f'<form method="post" action="{escape(action)}">{hidden}'
        '<button type="submit">Entrer / <span lang="en">Enter</span></button></form>'
    )


def welcome(box_name: str, action: str, fields: dict[str, str]) -> str:
    name = escape(box_name)
    return _page(
        f"{box_name} — bienvenue",
        f"<h1>Bienvenue sur {name}</h1>"
        f"<p>{name} est une boîte locale tenue par un collectif : des leçons sur le numérique "
        "sobre et libre, et un wiki que chacun peut lire et enrichir. Rien ne sort d'ici : "
        "pas d'internet, pas de pistage.</p>"
        f'<p class="en" lang="en">{name} is a local box run by a collective: lessons about '
        "frugal, free digital tools, and a wiki anyone can read and improve. Nothing leaves "
        "this place: no internet, no tracking.</p>" + enter_form(action, fields),
    )


def confirmation(box_name: str, box_url: str) -> str:
    url = escape(box_url)
    return _page(
        f"{box_name} — c'est ouvert",
        "<h1>C'est ouvert !</h1>"
        f'<p>Ouvrez <a href="{url}"><code>{url}</code></a> dans votre navigateur habituel.'
        "</p><p><strong>Android :</strong> si le téléphone dit « pas d'accès à internet », "
        "gardez quand même ce Wi-Fi. Si les pages de la boîte ne se chargent pas, coupez "
        "les données mobiles.</p>"
        f'<div class="en" lang="en"><p>You are in. Open <a href="{url}"><code>{url}</code>'
        "</a> in your usual browser.</p><p><strong>Android:</strong> if the phone says "
        '"no internet access", keep this Wi-Fi anyway. If the box\'s pages do not load, '
        "switch mobile data off.</p></div>",
    )


def refused(box_url: str) -> str:
    url = escape(box_url)
    return _page(
        "Formulaire expiré / Form expired",
        "<h1>Formulaire expiré</h1><p>Le formulaire a expiré : "
        f'<a href="{url}">revenez à l\'accueil</a> et touchez « Entrer » à nouveau.</p>'
        f'<p class="en" lang="en">The form has expired: <a href="{url}">go back</a> and '
        "tap Enter again.</p>",
    )
