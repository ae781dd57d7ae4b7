"""Tatoeba loader: local fixtures and a fake urlopen only; nothing here touches the network.

tests/fixtures/fra-eng-small.zip holds FIXTURE_TEXT as `fra.txt` (plus an `_about.txt`, as the
real zip does); `make_zip` below builds the same kind of file, and a test checks the two agree.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import shutil
import sys
import urllib.error
import zipfile
from pathlib import Path

import pytest

from seq2bert import cli
from seq2bert.data import tatoeba
from seq2bert.units import CourseError

FIXTURE = Path(__file__).parent / "fixtures" / "fra-eng-small.zip"
FIXTURE_PAIRS = [
    ("Go.", "Va !"), ("Hi.", "Salut."), ("Run!", "Cours !"), ("I see.", "Je vois."),
    ("We won.", "Nous avons gagné."), ("Wait here.", "Attends ici."), ("I like tea.", "J'aime le thé."),
    ("The cat sleeps.", "Le chat dort."), ("He has a red car.", "Il a une voiture rouge."),
    ("The river is very cold.", "La rivière est très froide."),
    ("My sister found a small bird.", "Ma sœur a trouvé un petit oiseau."),
    ("Can you help me carry this box?", "Peux-tu m'aider à porter cette boîte ?"),
]
ATTRIBUTION = "seq2bert test fixture, not Tatoeba data"
FIXTURE_TEXT = "".join(f"{en}\t{fr}\t{ATTRIBUTION}\n" for en, fr in FIXTURE_PAIRS)


def make_zip(path: Path, text: str, member: str = "fra.txt") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, text)
        archive.writestr("_about.txt", "layout of the manythings.org zips\n")
    return path


class FakeResponse(io.BytesIO):
    """What urlopen returns: a readable, closable body with headers."""

    def __init__(self, body: bytes, declared_length: int | None = None):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body) if declared_length is None else declared_length)}


@pytest.fixture
def served(monkeypatch):
    """Make urlopen serve a chosen body (or raise); records the URLs asked for."""
    state = {"body": FIXTURE.read_bytes(), "length": None, "error": None, "calls": []}

    def fake_urlopen(request, timeout=None):
        state["calls"].append(request.full_url)
        if state["error"] is not None:
            raise state["error"]
        return FakeResponse(state["body"], state["length"])

    monkeypatch.setattr(tatoeba.urllib.request, "urlopen", fake_urlopen)
    return state


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder that is also the default one."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(tatoeba.CACHE_ENV, str(folder))
    return folder


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_committed_fixture_holds_the_documented_text(tmp_path):
    with zipfile.ZipFile(FIXTURE) as archive:
        assert archive.read("fra.txt").decode("utf-8") == FIXTURE_TEXT
    rebuilt = make_zip(tmp_path / "rebuilt.zip", FIXTURE_TEXT)
    assert tatoeba.load(rebuilt) == tatoeba.load(FIXTURE) == FIXTURE_PAIRS


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(tatoeba.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tatoeba.default_cache_dir() == tmp_path / "xdg" / "seq2bert"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert tatoeba.default_cache_dir() == Path.home() / ".cache" / "seq2bert"
    monkeypatch.setenv(tatoeba.CACHE_ENV, str(tmp_path / "mine"))
    assert tatoeba.default_cache_dir() == tmp_path / "mine"
    assert tatoeba.data_path() == tmp_path / "mine" / "fra-eng.zip"


def test_missing_data_without_download_explains_and_stays_offline(cache, served):
    with pytest.raises(CourseError) as caught:
        tatoeba.load()
    message = str(caught.value)
    assert "seq2bert data tatoeba --download" in message and "offline" in message
    assert served["calls"] == [] and files_in(cache) == []


def test_download_then_load_from_cache(cache, served):
    assert tatoeba.load(download=True) == FIXTURE_PAIRS
    assert served["calls"] == [tatoeba.URL]
    assert files_in(cache) == ["fra-eng.zip", "fra-eng.zip.sha256"]
    recorded = (cache / "fra-eng.zip.sha256").read_text().split()[0]
    assert recorded == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert tatoeba.load(download=True, max_pairs=3) == FIXTURE_PAIRS[:3]
    assert served["calls"] == [tatoeba.URL]  # present already: no second download


def test_download_with_the_right_expected_checksum(cache, served):
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert tatoeba.download_to_cache(sha256=digest.upper()) == cache / "fra-eng.zip"
    assert tatoeba.load(sha256=digest) == FIXTURE_PAIRS


def test_download_with_a_wrong_checksum_keeps_nothing(cache, served):
    with pytest.raises(CourseError, match="expected 0{64}.*deleted"):
        tatoeba.load(download=True, sha256="0" * 64)
    assert files_in(cache) == []


@pytest.mark.parametrize("error, words", [
    (urllib.error.URLError("[Errno -3] Temporary failure in name resolution"), "offline"),
    (TimeoutError("timed out"), "offline"),
    (urllib.error.HTTPError(tatoeba.URL, 404, "Not Found", {}, None), "HTTP 404"),
])
def test_network_failures_keep_nothing(cache, served, error, words):
    served["error"] = error
    with pytest.raises(CourseError, match=words):
        tatoeba.load(download=True)
    assert files_in(cache) == []


def test_download_cut_short_keeps_nothing(cache, served):
    body = FIXTURE.read_bytes()
    served["body"], served["length"] = body[: len(body) // 2], len(body)
    with pytest.raises(CourseError, match="stopped after"):
        tatoeba.load(download=True)
    assert files_in(cache) == []


class DroppedResponse(FakeResponse):
    """A response whose connection breaks after the first block of the body."""

    def __init__(self, body: bytes, error: BaseException):
        super().__init__(body)
        self.error, self.reads = error, 0

    def read(self, size=-1):
        self.reads += 1
        if self.reads > 1:
            raise self.error
        return super().read(200)


@pytest.mark.parametrize("error, raised", [
    (ConnectionResetError("connection reset by peer"), CourseError),
    (http.client.IncompleteRead(b"partial"), CourseError),
    (KeyboardInterrupt(), KeyboardInterrupt),  # the learner presses Ctrl-C mid-download
])
def test_download_broken_mid_stream_keeps_nothing_and_the_old_copy(cache, served, monkeypatch, error, raised):
    tatoeba.download_to_cache()
    good = (cache / "fra-eng.zip").read_bytes()
    responses = []

    def breaking_urlopen(request, timeout=None):
        responses.append(DroppedResponse(FIXTURE.read_bytes(), error))
        return responses[-1]

    monkeypatch.setattr(tatoeba.urllib.request, "urlopen", breaking_urlopen)
    with pytest.raises(raised):
        tatoeba.download_to_cache()
    assert responses[0].reads == 2  # part of the body had been written before the break
    assert files_in(cache) == ["fra-eng.zip", "fra-eng.zip.sha256"]
    assert (cache / "fra-eng.zip").read_bytes() == good
    (cache / "fra-eng.zip").unlink()
    (cache / "fra-eng.zip.sha256").unlink()
    with pytest.raises(raised):
        tatoeba.load(download=True)
    assert files_in(cache) == []


def test_truncated_zip_download_keeps_nothing(cache, served):
    served["body"] = FIXTURE.read_bytes()[:300]  # the server claims this is everything
    with pytest.raises(CourseError, match="not a usable fra-eng.zip.*not a readable zip"):
        tatoeba.load(download=True)
    assert files_in(cache) == []


def test_zip_without_fra_txt_keeps_nothing(cache, served, tmp_path):
    served["body"] = make_zip(tmp_path / "other.zip", FIXTURE_TEXT, member="deu.txt").read_bytes()
    with pytest.raises(CourseError, match="no fra.txt"):
        tatoeba.load(download=True)
    assert files_in(cache) == []


def test_failed_download_leaves_the_good_copy_alone(cache, served):
    tatoeba.download_to_cache()
    before = (cache / "fra-eng.zip").read_bytes()
    served["body"] = b"garbage"
    with pytest.raises(CourseError):
        tatoeba.download_to_cache()
    assert (cache / "fra-eng.zip").read_bytes() == before
    assert files_in(cache) == ["fra-eng.zip", "fra-eng.zip.sha256"]


def test_unwritable_cache_folder(tmp_path, served):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for folder in (blocker / "cache", blocker):  # parent is a file / the folder itself is a file
        with pytest.raises(CourseError, match="cannot write to the cache folder"):
            tatoeba.load(download=True, cache_dir=folder)
    assert served["calls"] == [] and blocker.read_text() == "not a folder"
    assert files_in(tmp_path) == ["a-file"]


def test_cache_damaged_after_download_is_quarantined(cache, served):
    tatoeba.load(download=True)
    cached = cache / "fra-eng.zip"
    cached.write_bytes(cached.read_bytes()[:-10])  # e.g. a disk problem, or a half-written copy
    with pytest.raises(CourseError, match=r"recorded when it was first stored.*moved it to .*fra-eng.zip.corrupt"):
        tatoeba.load()
    assert files_in(cache) == ["fra-eng.zip.corrupt"]
    with pytest.raises(CourseError, match="--download"):  # no longer used
        tatoeba.load()


def test_unreadable_cache_file_without_record_is_quarantined(cache):
    cache.mkdir()
    (cache / "fra-eng.zip").write_bytes(FIXTURE.read_bytes()[:300])
    with pytest.raises(CourseError, match="not a readable zip.*moved it to"):
        tatoeba.load()
    assert files_in(cache) == ["fra-eng.zip.corrupt"]


def test_copied_in_cache_file_is_recorded_on_first_use(cache):
    cache.mkdir()
    shutil.copy(FIXTURE, cache / "fra-eng.zip")
    assert tatoeba.load() == FIXTURE_PAIRS
    recorded = (cache / "fra-eng.zip.sha256").read_text().split()[0]
    assert recorded == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()


def test_explicit_path_with_wrong_checksum_is_left_untouched(tmp_path):
    mine = tmp_path / "mine.zip"
    shutil.copy(FIXTURE, mine)
    with pytest.raises(CourseError, match="left untouched"):
        tatoeba.load(mine, sha256="f" * 64)
    assert mine.read_bytes() == FIXTURE.read_bytes() and files_in(tmp_path) == ["mine.zip"]


def test_malformed_lines_are_skipped_and_counted(tmp_path):
    text = "Hi.\tSalut.\tx\nno tab here\n\nOnly English.\t\tx\nGo.\tVa !\n"
    path = make_zip(tmp_path / "mixed.zip", text)
    assert tatoeba.read_pairs(path) == ([("Hi.", "Salut."), ("Go.", "Va !")], 2)
    with pytest.warns(tatoeba.TatoebaWarning, match="skipped 2 malformed lines"):
        assert tatoeba.load(path) == [("Hi.", "Salut."), ("Go.", "Va !")]


def test_a_file_without_valid_lines_is_an_error(tmp_path):
    with pytest.raises(CourseError, match="no valid"):
        tatoeba.load(make_zip(tmp_path / "bad.zip", "one\ntwo\n"))
    with pytest.raises(CourseError, match="not UTF-8"):
        tatoeba.load(_latin1_zip(tmp_path))


def _latin1_zip(tmp_path: Path) -> Path:
    path = tmp_path / "latin.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fra.txt", "Go.\tVa à la mer\n".encode("latin-1"))
    return path


def test_plain_fra_txt_and_bad_arguments(tmp_path):
    plain = tmp_path / "fra.txt"
    plain.write_text(FIXTURE_TEXT, encoding="utf-8")
    assert tatoeba.load(plain, max_pairs=2) == FIXTURE_PAIRS[:2]
    with pytest.raises(CourseError, match="max_pairs"):
        tatoeba.load(plain, max_pairs=0)
    with pytest.raises(CourseError, match="64 hexadecimal"):
        tatoeba.load(plain, sha256="abc")
    with pytest.raises(CourseError, match="does not exist"):
        tatoeba.load(tmp_path / "missing.zip")


def test_cli_reports_where_and_how_many(cache, served, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["seq2bert"])
    assert cli.main(["data", "tatoeba"]) == 2
    assert "seq2bert data tatoeba --download" in capsys.readouterr().err
    assert cli.main(["data", "tatoeba", "--download"]) == 0
    out = capsys.readouterr().out
    assert str(cache / "fra-eng.zip") in out and f"{len(FIXTURE_PAIRS)} pairs" in out
    other = cache.parent / "other"
    assert cli.main(["data", "tatoeba", "--cache-dir", str(other)]) == 2
    assert str(other) in capsys.readouterr().err
