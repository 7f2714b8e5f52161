"""Versioned LLM prompt templates, one Markdown file per task and version under `prompts/`.

Prompts are data, not code: a wording change is a new file (`name.vN.md`), never an edit in place,
so every cached LLM answer can be keyed on `Prompt.key` and reproduced later. A file is YAML front
matter (name, version, description, output) between `---` lines, then a `str.format` template body;
literal braces in the body (JSON examples) are written doubled, `{{` and `}}`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
_FILE_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>\d+)\.md$")
_FRONT_MATTER_RE = re.compile(r"\A---\s*\n(?P<meta>.*?)\n---\s*\n(?P<body>.*)\Z", re.S)


class PromptError(ValueError):
    """A prompt file is missing or malformed, or a render lacks values for its placeholders."""


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    description: str
    output: str
    template: str

    @property
    def key(self) -> str:
        """Stable identifier for caches and provenance rows, e.g. "ontology_labels.v1"."""
        return f"{self.name}.v{self.version}"

    @property
    def placeholders(self) -> frozenset[str]:
        fields = (f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None)
        return frozenset(re.split(r"[.\[]", f, maxsplit=1)[0] for f in fields if f)

    def render(self, **values: object) -> str:
        """Fill the template; every placeholder must be given (extra values are ignored)."""
        missing = sorted(self.placeholders - values.keys())
        if missing:
            raise PromptError(f"prompt {self.key} is missing values for: {', '.join(missing)}")
        return self.template.format(**values)


def parse_prompt(path: Path) -> Prompt:
    """Read one prompt file, checking its front matter agrees with its file name."""
    match = _FILE_RE.match(path.name)
    if not match:
        raise PromptError(f"{path.name}: prompt files are named <name>.v<version>.md")
    parts = _FRONT_MATTER_RE.match(path.read_text(encoding="utf-8"))
    if not parts:
        raise PromptError(f"{path}: expected YAML front matter between '---' lines, then the template")
    try:
        meta = yaml.safe_load(parts["meta"]) or {}
    except yaml.YAMLError as exc:
        raise PromptError(f"{path}: invalid front matter: {exc}") from exc
    missing = [k for k in ("name", "version", "description", "output") if k not in meta]
    if missing:
        raise PromptError(f"{path}: front matter lacks {', '.join(missing)}")
    if meta["name"] != match["name"] or int(meta["version"]) != int(match["version"]):
        raise PromptError(f"{path}: front matter says {meta['name']}.v{meta['version']}, file name disagrees")
    body = parts["body"].strip() + "\n"
    return Prompt(
        meta["name"], int(meta["version"]), str(meta["description"]).strip(), str(meta["output"]), body
    )


def _prompt_files(prompts_dir: Path | None) -> dict[tuple[str, int], Path]:
    folder = Path(prompts_dir) if prompts_dir is not None else DEFAULT_PROMPTS_DIR
    files = {}
    for path in sorted(folder.glob("*.v*.md")):
        match = _FILE_RE.match(path.name)
        if match:
            files[(match["name"], int(match["version"]))] = path
    return files


def load_prompt(name: str, version: int | None = None, prompts_dir: Path | None = None) -> Prompt:
    """The prompt `name` at `version`, or its highest version when `version` is None."""
    versions = {v: path for (n, v), path in _prompt_files(prompts_dir).items() if n == name}
    if not versions:
        raise PromptError(f"no prompt named {name!r} in {prompts_dir or DEFAULT_PROMPTS_DIR}")
    chosen = max(versions) if version is None else version
    if chosen not in versions:
        raise PromptError(f"prompt {name!r} has versions {sorted(versions)}, not {chosen}")
    return parse_prompt(versions[chosen])


def list_prompts(prompts_dir: Path | None = None) -> list[Prompt]:
    """Every prompt version found, sorted by name then version."""
    return [parse_prompt(path) for _, path in sorted(_prompt_files(prompts_dir).items())]
