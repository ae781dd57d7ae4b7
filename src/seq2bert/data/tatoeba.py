"""Optional real data: Tatoeba English–French sentence pairs (manythings.org `fra-eng.zip`).

The zip holds `fra.txt`, one pair per line: `English<TAB>French<TAB>attribution` (the
sentences are from tatoeba.org, licensed CC-BY 2.0 FR). Nothing here touches the network
unless asked to (:func:`download_to_cache`, or ``load(download=True)``); the course runs
offline without it.

Integrity: the upstream file is updated from time to time, so no checksum can be pinned in
advance (KNOWN_SHA256 is None). Instead the SHA-256 of the first good copy is recorded beside
it (`fra-eng.zip.sha256`) and checked on every later load, which catches a cache file that was
truncated or damaged afterwards. A caller who knows the digest can pass ``sha256=``. A cached
file that fails a check is moved aside to `fra-eng.zip.corrupt` (deleted if it cannot be
moved) and never used. Downloads go to a temporary file in the cache folder and are renamed
into place only once complete and verified.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path

from seq2bert.files import write_atomic
from seq2bert.units import CourseError

URL = "https://www.manythings.org/anki/fra-eng.zip"
FILE_NAME = "fra-eng.zip"
MEMBER = "fra.txt"  # the text file inside the zip
KNOWN_SHA256: str | None = None  # see the module docstring
CACHE_ENV = "SEQ2BERT_CACHE"
DOWNLOAD_COMMAND = "seq2bert data tatoeba --download"
_CHUNK = 1 << 16
_HEX64 = re.compile(r"[0-9a-f]{64}")


class TatoebaWarning(UserWarning):
    """Something in the data was skipped (malformed lines)."""


def default_cache_dir() -> Path:
    """$SEQ2BERT_CACHE, else $XDG_CACHE_HOME/seq2bert, else ~/.cache/seq2bert."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "seq2bert"


def data_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the cached `fra-eng.zip` is (or would be)."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser() / FILE_NAME


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _check_digest(sha256: str | None) -> str | None:
    """A lowercase 64-hex digest, or None."""
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if not _HEX64.fullmatch(digest):
        raise CourseError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return digest


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _quarantine(path: Path, reason: str) -> CourseError:
    """Move a bad cache file (and its recorded checksum) aside; the error to raise."""
    corrupt = path.with_name(path.name + ".corrupt")
    _checksum_path(path).unlink(missing_ok=True)
    try:
        os.replace(path, corrupt)
        where = f"moved it to {corrupt}"
    except OSError:
        path.unlink(missing_ok=True)
        where = "removed it"
    return CourseError(f"the cached {path} {reason}; {where}. Download it again with `{DOWNLOAD_COMMAND}`")


def read_pairs(path: str | os.PathLike, max_pairs: int | None = None) -> tuple[list[tuple[str, str]], int]:
    """(English, French) pairs from a manythings zip (or its fra.txt), and how many lines were malformed.

    A line is malformed unless it has an English and a French field separated by a tab; blank
    lines are ignored. Raises CourseError if the file is missing, not a readable zip, lacks
    fra.txt, is not UTF-8, or holds no valid pair. `max_pairs` keeps the first pairs (the file
    runs short to long) and stops reading there, so malformed lines are counted up to that point.
    """
    path = Path(path)
    if max_pairs is not None and max_pairs < 1:
        raise CourseError(f"max_pairs must be at least 1, got {max_pairs}")
    if not path.is_file():
        raise CourseError(f"{path} does not exist or is not a file")
    if path.suffix.lower() == ".txt":
        raw = path.read_bytes()
    else:
        raw = _read_member(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CourseError(f"{path}: {MEMBER} is not UTF-8 text "
                          f"({error.reason} at byte {error.start})") from None
    pairs: list[tuple[str, str]] = []
    malformed = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        english, french = (fields[0].strip(), fields[1].strip()) if len(fields) >= 2 else ("", "")
        if not english or not french:
            malformed += 1
            continue
        pairs.append((english, french))
        if max_pairs is not None and len(pairs) == max_pairs:
            break
    if not pairs:
        raise CourseError(f"{path} holds no valid `English<TAB>French` line ({malformed} malformed lines)")
    return pairs, malformed


def _read_member(path: Path) -> bytes:
    """The bytes of fra.txt inside the zip at `path`."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MEMBER]
            if not names:
                listing = ", ".join(archive.namelist()[:5]) or "nothing"
                raise CourseError(f"{path} has no {MEMBER} inside (it holds {listing}); "
                                  f"is it the manythings.org {FILE_NAME}?")
            return archive.read(names[0])
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise CourseError(f"{path} is not a readable zip file (truncated or corrupted?): {error}") from None


def download_to_cache(cache_dir: str | os.PathLike | None = None, *, sha256: str | None = None,
                      url: str = URL, timeout: float = 60.0) -> Path:
    """Fetch fra-eng.zip into the cache (atomically, verified) and record its SHA-256 beside it."""
    expected = _check_digest(sha256) or KNOWN_SHA256
    target = data_path(cache_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{FILE_NAME}.", suffix=".part")
    except OSError as error:
        raise CourseError(f"cannot write to the cache folder {target.parent} ({error.strerror or error}); "
                          f"choose another with --cache-dir or ${CACHE_ENV}") from None
    tmp = Path(tmp_name)
    try:
        digest = _fetch(url, fd, timeout)
        if expected is not None and digest != expected:
            raise CourseError(f"the download from {url} has SHA-256 {digest}, expected {expected}; "
                              "it was deleted (try again, or check the expected checksum)")
        try:
            read_pairs(tmp, max_pairs=1)
        except CourseError as error:
            raise CourseError(f"the download from {url} is not a usable {FILE_NAME} "
                              f"and was deleted ({error})") from None
        os.replace(tmp, target)
        write_atomic(_checksum_path(target), f"{digest}  {FILE_NAME}\n")
    except OSError as error:
        raise CourseError(f"cannot save the download in {target.parent} "
                          f"({error.strerror or error})") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful os.replace
    return target


def _fetch(url: str, fd: int, timeout: float) -> str:
    """Stream `url` into the open file `fd` (closing it); the hex SHA-256 of what was written."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "seq2bert-course/0.1 (python urllib)"})
    received = 0
    with os.fdopen(fd, "wb") as out:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                declared = (getattr(response, "headers", None) or {}).get("Content-Length")
                while block := response.read(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
        except urllib.error.HTTPError as error:
            raise CourseError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", None) or error.__class__.__name__
            raise CourseError(f"cannot download {url} ({reason}); are you offline? "
                              "The course works offline without this data set") from None
    if declared is not None and str(declared).isdigit() and int(declared) != received:
        raise CourseError(f"the download from {url} stopped after {received} of {declared} bytes; "
                          "the partial file was deleted, try again")
    return digest.hexdigest()


def _verify_cached(path: Path, expected: str | None) -> None:
    """Check a cache file against the caller's digest and the recorded one; quarantine on mismatch."""
    recorded_path = _checksum_path(path)
    recorded = None
    if recorded_path.is_file():
        words = recorded_path.read_text(encoding="utf-8", errors="replace").split()
        recorded = words[0].lower() if words else ""
    if expected is None and recorded is None:
        return
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        raise _quarantine(path, f"has SHA-256 {actual}, not the expected {expected}")
    if recorded is not None and actual != recorded:
        raise _quarantine(path, f"has SHA-256 {actual}, not the {recorded or '(empty)'} recorded "
                                f"when it was first stored (damaged or half-written since?)")


def _record_if_missing(path: Path) -> None:
    """Trust a good cache file on first use: record its SHA-256 if nothing is recorded yet."""
    if _checksum_path(path).exists():
        return
    try:
        write_atomic(_checksum_path(path), f"{sha256_of(path)}  {path.name}\n")
    except OSError:
        pass  # a read-only cache still loads; it just is not re-verified next time


def locate(path: str | os.PathLike | None = None, *, download: bool = False,
           cache_dir: str | os.PathLike | None = None, sha256: str | None = None) -> Path:
    """The verified data file: `path` if given, else the cache copy (downloaded only if asked)."""
    expected = _check_digest(sha256)
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise CourseError(f"{path} does not exist or is not a file")
        actual = sha256_of(path) if expected is not None else None
        if actual != expected:
            raise CourseError(f"{path} has SHA-256 {actual}, not the expected {expected}; "
                              "the file was left untouched")
        return path
    cached = data_path(cache_dir)
    if not cached.is_file():
        if not download:
            raise CourseError(
                f"the Tatoeba English–French data is not in {cached.parent}. It is optional: the course "
                f"works offline without it. To fetch it, run `{DOWNLOAD_COMMAND}`, "
                f"or download {URL} yourself and put it at {cached}")
        return download_to_cache(cache_dir, sha256=sha256)
    _verify_cached(cached, expected or KNOWN_SHA256)
    return cached


def load_with_info(path: str | os.PathLike | None = None, *, download: bool = False,
                   cache_dir: str | os.PathLike | None = None, max_pairs: int | None = None,
                   sha256: str | None = None) -> tuple[list[tuple[str, str]], Path, int]:
    """Like :func:`load`, also returning the file read and the number of malformed lines skipped."""
    if max_pairs is not None and max_pairs < 1:
        raise CourseError(f"max_pairs must be at least 1, got {max_pairs}")
    found = locate(path, download=download, cache_dir=cache_dir, sha256=sha256)
    is_cache = path is None
    try:
        pairs, malformed = read_pairs(found, max_pairs=max_pairs)
    except CourseError as error:
        if is_cache and found.is_file():
            raise _quarantine(found, f"cannot be read ({error})") from None
        raise
    if is_cache:
        _record_if_missing(found)
    return pairs, found, malformed


def load(path: str | os.PathLike | None = None, *, download: bool = False,
         cache_dir: str | os.PathLike | None = None, max_pairs: int | None = None,
         sha256: str | None = None) -> list[tuple[str, str]]:
    """(English, French) Tatoeba pairs from `path` or the cache; see the module docstring.

    download: fetch the file into the cache if it is not there (otherwise never touch the network).
    max_pairs: keep only the first pairs (the file runs from short to long sentences).
    sha256: the expected hex digest of the zip, checked before reading.
    """
    pairs, found, malformed = load_with_info(path, download=download, cache_dir=cache_dir,
                                             max_pairs=max_pairs, sha256=sha256)
    if malformed:
        warnings.warn(f"skipped {malformed} malformed lines in {found}", TatoebaWarning, stacklevel=2)
    return pairs
