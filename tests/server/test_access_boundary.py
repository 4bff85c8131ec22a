"""No role decides access outside `server/access.py`: code asks the policy a named action.

A scan of the app code (not migrations or tests) for the ways a role check is written: calling
`Actor.has`, comparing with a role (`Role.X == …`, `"coordinator" in roles`), filtering
practitioners by role (`roles__role=`), reading `is_staff`/`is_superuser`, and naming a role
member at all outside the few places that write or show roles, listed below with their reason.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from server.directory.models import Role

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("server", "consult", "imaging", "devices")
POLICY = Path("server/access.py")

# The only files that may name a role member (`Role.X`), and why: they seed roles or choose what
# a role's page shows, never decide access with them.
ROLE_NAMES_ALLOWED: dict[Path, str] = {
    Path("server/directory/demo.py"): "seeds the demo's practitioners with their roles",
    Path("server/web/views.py"): "chooses the home page of the viewer's first role",
    Path("consult/apps.py"): "adds the consult cards to the specialist's home page",
}

ROLE_VALUES = frozenset(role.value for role in Role)
# "specialist" is also a consult's target kind, so templates are searched for the other roles'
# values and for tests of a `role` or `roles`.
TEMPLATE_ROLE_TEST = re.compile(
    r"\{%-?\s*(?:el)?if\b[^%]*(?:\broles?\b|\bhas\b|is_staff|is_superuser|"
    r"coordinator|clinic_doctor|institution_admin)[^%]*%\}"
)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _app_files(suffix: str) -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for top in SCANNED
        for path in (ROOT / top).rglob(f"*{suffix}")
        if "migrations" not in path.parts and path.relative_to(ROOT) != POLICY
    )


def _is_role_member(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Role"
        and node.attr.isupper()
    )


def _mentions_a_role(node: ast.AST) -> bool:
    """A role member, a role's value as a string, or something's `roles`."""
    return any(
        _is_role_member(part)
        or (isinstance(part, ast.Constant) and part.value in ROLE_VALUES)
        or (isinstance(part, ast.Attribute) and part.attr == "roles")
        or (isinstance(part, ast.Name) and part.id == "roles")
        for part in ast.walk(node)
    )


def _role_checks(path: Path, source: str | None = None) -> list[Finding]:
    text = (ROOT / path).read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    found: list[Finding] = []
    for node in ast.walk(tree):
        what = ""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "has"
        ):
            what = "calls .has(): ask server.access for a named action"
        elif isinstance(node, ast.Compare) and _mentions_a_role(node):
            what = "compares with a role: ask server.access for a named action"
        elif isinstance(node, ast.keyword) and node.arg and node.arg.startswith("roles__"):
            what = f"filters by {node.arg}: use server.access.practitioners_permitted"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("roles__")
        ):
            what = f"filters by {node.value!r}: use server.access.practitioners_permitted"
        elif isinstance(node, ast.Attribute) and node.attr in ("is_staff", "is_superuser"):
            what = f"reads {node.attr}: ask server.access for a named action"
        elif _is_role_member(node) and path not in ROLE_NAMES_ALLOWED:
            assert isinstance(node, ast.Attribute)
            what = f"names Role.{node.attr} outside the policy"
        if what:
            found.append(Finding(path, getattr(node, "lineno", 0), what))
    return found


def test_no_role_check_decides_access_outside_the_policy() -> None:
    found = [finding for path in _app_files(".py") for finding in _role_checks(path)]
    assert not found, "\n".join(map(str, found))


def test_no_template_tests_a_role() -> None:
    found = [
        Finding(path, text.count("\n", 0, match.start()) + 1, match.group(0))
        for path in _app_files(".html")
        for text in [(ROOT / path).read_text(encoding="utf-8")]
        for match in TEMPLATE_ROLE_TEST.finditer(text)
    ]
    assert not found, "\n".join(map(str, found))


def test_the_files_allowed_to_name_roles_still_do() -> None:
    """A file that stops naming roles leaves the list, so the list stays exact."""
    for path in ROLE_NAMES_ALLOWED:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        assert any(_is_role_member(node) for node in ast.walk(tree)), path


def test_the_scan_finds_each_way_of_writing_a_role_check() -> None:
    samples = {
        "actor.has(Role.COORDINATOR)": 2,  # the call, and the role named
        'if "coordinator" in roles: pass': 1,
        "x = role == Role.SPECIALIST": 2,
        "Practitioner.objects.filter(roles__role=r)": 1,
        'qs.values_list("roles__role")': 1,
        "user.is_superuser": 1,
        "actor_permits(actor, Action.COORDINATE_CONSULTS)": 0,
    }
    for source, count in samples.items():
        assert len(_role_checks(Path("server/sample.py"), source)) == count, source
    assert len(_role_checks(Path("server/directory/demo.py"), "roles = [Role.SPECIALIST]")) == 0
    assert TEMPLATE_ROLE_TEST.search('{% if "coordinator" in nav.roles %}')
    assert TEMPLATE_ROLE_TEST.search("{% elif user.is_staff %}")
    assert not TEMPLATE_ROLE_TEST.search('{% if consult.target_kind == "specialist" %}')
    assert not TEMPLATE_ROLE_TEST.search("{% if nav.role_labels %}")
