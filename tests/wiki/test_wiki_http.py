"""The wiki over HTTP on a real loopback server: every feature, and the bad inputs."""

from __future__ import annotations

import io
import re

import aiohttp

from tests.wiki.conftest import Portal

XSS = [
    "<script>alert(1)</script>",
    "[clic](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    '<svg onload="alert(1)"><circle r="9"/></svg>',
    "<a href='jav&#x09;ascript:alert(1)'>x</a>",
    "<iframe src='//evil.example'></iframe>",
    "<div style='background:url(javascript:alert(1))'>x</div>",
    "<<script>script>alert(1)<</script>/script>",
    '<form action="//evil.example"><button>x</button></form>',
]


async def test_create_read_and_link(portal: Portal) -> None:
    slug = await portal.create("Écologie numérique", "Le **vélo** et [[La marche]].")
    assert slug == "ecologie-numerique"
    status, html = await portal.get(f"/wiki/{slug}")
    assert status == 200 and "<strong>vélo</strong>" in html
    assert 'href="/wiki/la-marche?creer=1"' in html  # a missing page offers creation
    status, html = await portal.get("/wiki/la-marche?creer=1")
    assert status == 404 and "/wiki/la-marche/modifier" in html
    await portal.create("La marche", "Retour vers [[Écologie numérique]].")
    status, html = await portal.get(f"/wiki/{slug}")
    assert 'href="/wiki/la-marche"' in html
    status, html = await portal.get("/wiki/la-marche")
    status, html = await portal.get(f"/wiki/{slug}")
    assert "Pages qui mènent ici" in html and 'href="/wiki/la-marche"' in html
    status, html = await portal.get("/wiki")
    assert "Écologie numérique" in html and "La marche" in html


async def test_page_titles_name_the_page(portal: Portal) -> None:
    _status, html = await portal.get("/wiki/nouvelle")
    assert "<title>Nouvelle page · " in html
    slug = await portal.create("Jardin partagé", "x")
    _status, html = await portal.get(f"/wiki/{slug}/modifier")
    assert "<title>Modifier Jardin partagé · " in html


async def test_preview_does_not_save(portal: Portal) -> None:
    slug = await portal.create("Brouillon", "v1")
    csrf, base = await portal.form(f"/wiki/{slug}/modifier")
    status, html, _ = await portal.post(
        f"/wiki/{slug}/modifier",
        {"csrf": csrf, "base": base, "text": "# Titre *aperçu*", "action": "preview"},
    )
    assert status == 200 and "<em>aperçu</em>" in html and "# Titre *aperçu*</textarea>" in html
    assert "v1" in (await portal.get(f"/wiki/{slug}"))[1]


async def test_history_diff_and_restore(portal: Portal) -> None:
    slug = await portal.create("Compost", "Première version.\nLigne stable.\n")
    await portal.edit(slug, "Deuxième version.\nLigne stable.\n", summary="reformulé")
    status, html = await portal.get(f"/wiki/{slug}/historique")
    revs = re.findall(r'/version/([A-Z2-7-]+:\d+)"', html)
    assert status == 200 and len(revs) == 2 and "reformulé" in html
    new, old = revs
    status, html = await portal.get(f"/wiki/{slug}/diff?de={old}&a={new}")
    assert status == 200
    assert "<del>" in html and "Première version." in html and "<ins>" in html
    status, html = await portal.get(f"/wiki/{slug}/version/{old}")
    assert "Première version." in html
    csrf, _ = await portal.form(f"/wiki/{slug}/version/{old}")
    status, html, url = await portal.post(f"/wiki/{slug}/restaurer", {"csrf": csrf, "rev": old})
    assert status == 200 and url.endswith(f"/wiki/{slug}") and "Première version." in html
    status, html = await portal.get(f"/wiki/{slug}/historique")
    assert len(re.findall(r"/version/", html)) == 3
    assert (await portal.get(f"/wiki/{slug}/version/XYZ:1"))[0] == 404


async def test_two_visitors_editing_at_once_both_keep_their_text(portal: Portal) -> None:
    slug = await portal.create("Atelier", "Le vélo est utile.\nLa marche aussi.\n")
    csrf_a, base_a = await portal.form(f"/wiki/{slug}/modifier")
    csrf_b, base_b = await portal.form(f"/wiki/{slug}/modifier")
    assert base_a == base_b
    first = {"csrf": csrf_a, "base": base_a, "action": "save",
             "text": "Le vélo est très utile.\nLa marche aussi.\n"}  # fmt: skip
    second = {"csrf": csrf_b, "base": base_b, "action": "save",
              "text": "Le vélo est utile.\nLa marche aussi, et le train.\n"}  # fmt: skip
    await portal.post(f"/wiki/{slug}/modifier", first)
    # the second visitor previews first: told the page changed underneath
    _status, html, _ = await portal.post(f"/wiki/{slug}/modifier", {**second, "action": "preview"})
    assert "pendant que vous écriviez" in html
    _status, html, url = await portal.post(f"/wiki/{slug}/modifier", second)
    assert url.endswith("?fusion=1") and "ont été fusionnés" in html
    assert "Le vélo est très utile.\nLa marche aussi, et le train." in html


async def test_rename_keeps_the_old_address(portal: Portal) -> None:
    slug = await portal.create("Ancien nom", "texte")
    csrf, _ = await portal.form(f"/wiki/{slug}/renommer")
    status, html, url = await portal.post(
        f"/wiki/{slug}/renommer", {"csrf": csrf, "title": "Nouveau nom"}
    )
    assert url.endswith("/wiki/nouveau-nom") and "<h1>Nouveau nom</h1>" in html
    async with portal.client.get(portal.url("/wiki/ancien-nom"), allow_redirects=False) as r:
        assert r.status == 301 and r.headers["Location"] == "/wiki/nouveau-nom"
    await portal.create("Autre", "x")
    csrf, _ = await portal.form("/wiki/autre/renommer")
    status, html, _ = await portal.post(
        "/wiki/autre/renommer", {"csrf": csrf, "title": "Nouveau nom"}
    )
    assert status == 400 and "déjà ce titre" in html


async def test_search_ignores_accents_ranks_and_highlights(portal: Portal) -> None:
    await portal.create("Sobriété", "Parlons d'écologie et de réparation des téléphones.")
    await portal.create("Écologie", "L'écologie au quotidien.")
    for query in ("ecologie", "écologie", "ECOLOGIE"):
        status, html = await portal.get(f"/recherche?q={query}")
        titles = re.findall(r'<li><a href="([^"]+)">', html)
        assert status == 200 and titles[:2] == ["/wiki/ecologie", "/wiki/sobriete"], query
        assert "<mark>écologie</mark>" in html or "<mark>Écologie</mark>" in html
    status, html = await portal.get("/recherche?q=donnees")  # a lesson of the default pack
    assert "/lecons/bienvenue/" in html
    status, html = await portal.get('/recherche?q=" OR NEAR( body:*')  # FTS5 syntax is inert
    assert status == 200
    status, html = await portal.get("/recherche?q=zzzzqqq")
    assert "Rien trouvé" in html


async def test_english_pages(portal: Portal) -> None:
    slug = await portal.create("Bilan", "x")
    _status, html = await portal.get(f"/wiki/{slug}?lang=en")
    assert 'lang="en"' in html and ">Edit<" in html and ">History<" in html
    _status, html = await portal.get(f"/wiki/{slug}")  # remembered by the cookie
    assert ">Edit<" in html
    _status, html = await portal.get(f"/wiki/{slug}", headers={"Accept-Language": "fr"})
    assert ">Edit<" in html  # the remembered choice wins over the browser's


async def test_security_headers_and_inert_xss(portal: Portal) -> None:
    slug = await portal.create("Piège", "\n\n".join(XSS))
    async with portal.client.get(portal.url(f"/wiki/{slug}")) as response:
        html = await response.text()
        csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    article = html.split("<article>")[1].split("</article>")[0]
    lowered = article.lower()
    for bad in ("<script", "onerror", "onload", "<svg", "<iframe", "<form", "style="):
        assert bad not in lowered, bad
    # a javascript: URL may survive as visible text, never inside an attribute
    assert not re.search(r"""=\s*["']?\s*javascript:""", lowered)


async def test_csrf_is_required_and_the_text_is_kept(portal: Portal) -> None:
    slug = await portal.create("Protégée", "v1")
    _, base = await portal.form(f"/wiki/{slug}/modifier")
    status, html, _ = await portal.post(
        f"/wiki/{slug}/modifier",
        {"csrf": "faux", "base": base, "text": "mon long texte", "action": "save"},
    )
    assert status == 400 and "mon long texte</textarea>" in html
    assert "v1" in (await portal.get(f"/wiki/{slug}"))[1]


async def test_oversized_and_invalid_bodies(portal: Portal) -> None:
    slug = await portal.create("Grande", "v1")
    csrf, base = await portal.form(f"/wiki/{slug}/modifier")
    big = f"csrf={csrf}&base={base}&action=save&text=".encode() + b"a" * 1_200_000
    status, _html, _ = await portal.post(
        f"/wiki/{slug}/modifier",
        io.BytesIO(big),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 413
    status, html, _ = await portal.post(
        f"/wiki/{slug}/modifier",
        b"csrf=" + csrf.encode() + b"&text=%FF%FE&action=save",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 400 and "UTF-8" in html
    status, _html, _ = await portal.post(
        f"/wiki/{slug}/modifier", {"csrf": csrf, "base": "../../etc", "text": "x"}
    )
    assert status == 400
    assert "v1" in (await portal.get(f"/wiki/{slug}"))[1]


async def _upload(
    portal: Portal, slug: str, name: str, data: bytes | io.BytesIO
) -> tuple[int, str]:
    csrf, _ = await portal.form(f"/wiki/{slug}/fichiers")
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    status, html, _ = await portal.post(f"/wiki/{slug}/fichiers", form)
    return status, html


async def test_attachments(portal: Portal) -> None:
    slug = await portal.create("Affiche", "x")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    status, html = await _upload(portal, slug, "affiche été.png", png)
    assert status == 200 and "affiche été.png" in html, html[-600:]
    link = re.search(r'href="(/fichiers/[0-9a-f]{64}/[^"]+)"', html)
    assert link is not None
    async with portal.client.get(portal.url(link.group(1))) as response:
        assert response.status == 200 and response.content_type == "image/png"
        assert await response.read() == png
        assert "sandbox" in response.headers["Content-Security-Policy"]
    for bad_name in ("../../identity.key", "..", ".cache", "a/b.png"):
        status, _ = await _upload(portal, slug, bad_name, png)
        assert status == 400, bad_name
    status, _ = await _upload(portal, slug, "x.svg", b'<svg onload="alert(1)"/>')
    assert status == 415
    status, _ = await _upload(portal, slug, "x.pdf", io.BytesIO(b"%PDF-1.4" + b"0" * 2_100_000))
    assert status == 413
    assert (await portal.get("/fichiers/../../data/identity.key/x"))[0] == 404


async def test_edits_are_rate_limited_per_device(portal: Portal) -> None:
    slug = await portal.create("Rapide", "0")
    statuses = []
    for i in range(12):
        status, html, _ = await portal.edit(slug, f"version {i}")
        statuses.append(status)
    assert statuses[0] == 200 and 429 in statuses
    assert "votre texte est conservé" in html and "version 11</textarea>" in html
