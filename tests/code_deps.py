"""What a stage's code depends on, read from the code itself (ast, nothing imported or run).

- `import_closure`: the project files a stage module imports, transitively: `import docent.x`,
  `from docent.x import y` (y a name or a submodule), relative imports, and imports inside
  functions (the heavy ones are lazy here); `if TYPE_CHECKING:` blocks are skipped (never run).
  A package's `__init__.py` runs on import, so it is part of the closure, unless it is inert
  (a docstring and `from __future__` only): editing an inert file cannot change what a stage does
  and would only make every dvc.yaml entry list it.
- `params_reads`: the params keys that the code reachable from the stage reads (`reachable_defs`),
  found through the type annotations of the one loader's dataclasses (docent/config.py): a value is
  a `Params` (what `load_params` returns, or an argument annotated `Params`) or one section
  (`params.retrieval`, an argument annotated `RetrievalParams`, `self.x = <a section>`); a read is an
  attribute of a section that is one of its fields (`retrieval.k`), `params.seed`, or the whole
  section (`dataclasses.asdict(s)`, `dataclasses.replace(s, ...)` copies the fields it does not set,
  `params.to_dict()`, `getattr(s, name)`).
  What the `log_params` banner prints is not a read: it shapes no output.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from docent.config import SECTIONS, TOP_LEVEL_SCALARS

PACKAGES = ("docent", "stages")  # the project's importable top-level packages
SECTION_OF_CLASS = {cls.__name__: name for name, cls in SECTIONS.items()}
FIELDS = {name: tuple(f.name for f in dataclasses.fields(cls)) for name, cls in SECTIONS.items()}
PARAMS = "Params"  # the type of what load_params returns
ALL_LOADED = "*"  # marker: every section the stage loads (params.to_dict())


# ---------------------------------------------------------------- import closure

def parse(path: Path) -> ast.Module:
    """The file's tree, parsed once per content (tests call the checks many times)."""
    return _parse(path.resolve(), path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=512)
def _parse(path: Path, text: str) -> ast.Module:
    return ast.parse(text, filename=str(path))


def module_file(repo: Path, dotted: str) -> Path | None:
    """docent.qa.split -> repo/docent/qa/split.py (or .../split/__init__.py); None if not a project module."""
    parts = dotted.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = repo.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def module_name(repo: Path, path: Path) -> str:
    rel = path.relative_to(repo).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, minus the bodies of `if TYPE_CHECKING:` (their `else:` runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(repo: Path, path: Path) -> set[str]:
    """Dotted names of the project modules `path` imports anywhere (packages on the way included)."""
    tree = parse(path)
    own = module_name(repo, path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: set[str] = set()
    for node in runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            # `from docent.x import y`: y is a submodule when docent/x/y(.py) exists, else a name in x
            found.update(f"{base}.{alias.name}" for alias in node.names)
    closed: set[str] = set()
    for name in found:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            prefix = ".".join(parts[:i])
            if module_file(repo, prefix) is not None:
                closed.add(prefix)
    return closed


def is_inert(path: Path) -> bool:
    """Only a docstring and `from __future__` imports: nothing that can run."""
    body = parse(path).body
    for node in body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        return False
    return True


def import_closure(repo: Path, start: Path) -> set[str]:
    """Repo-relative posix paths of every non-inert project file that importing `start` can run."""
    start = start.resolve()
    seen: set[Path] = set()
    todo = [start]
    # `python -m stages.x` imports the package stages/ first
    todo += [f for f in (module_file(repo, n) for n in _packages_of(module_name(repo, start))) if f]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(repo, path):
            file = module_file(repo, name)
            if file is not None and file not in seen:
                todo.append(file)
    return {PurePosixPath(p.relative_to(repo)).as_posix() for p in seen if not is_inert(p)}


def _packages_of(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def covering(path: str, declared: Iterable[str]) -> list[str]:
    """The declared deps (files, or folders) that contain `path`."""
    p = PurePosixPath(path)
    return [d for d in declared if p == PurePosixPath(d) or p.is_relative_to(PurePosixPath(d))]


# ---------------------------------------------------------------- reachable code

def _is_main_guard(node: ast.AST) -> bool:
    """`if __name__ == "__main__":`, which runs only when the module is the program."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _import_time(tree: ast.Module, entry_point: bool) -> Iterator[ast.AST]:
    """Nodes that run on import: all but function bodies (their decorators and defaults run)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if not entry_point and _is_main_guard(node):
            continue
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend([*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)])
        elif isinstance(node, ast.ClassDef):
            stack.extend([*node.decorator_list, *node.bases, *node.keywords])
            stack.extend(n for n in node.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
        else:
            stack.extend(ast.iter_child_nodes(node))


def _names_used(nodes: Iterable[ast.AST]) -> set[str]:
    used: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            used.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            used.add(node.attr)
        elif isinstance(node, ast.alias):
            used.add(node.asname or node.name.rpartition(".")[2])
    return used


def reachable_defs(trees: dict[Path, ast.Module], entry: Path) -> set[int]:
    """ids of the function defs (module-level functions and methods) that code run from the stage can
    call: by name, from what runs on import (the stage's `if __name__ == "__main__": main()`
    included) and, in turn, from the bodies of reachable functions. Matching by name (not by
    module) errs on the side of more: `obj.generate(...)` reaches every method named generate.
    A class that is named reaches its dunder methods (__init__, __post_init__, __call__, ...)."""
    defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        key = f"{node.name}.{item.name}" if item.name.startswith("__") else item.name
                        defs.setdefault(key, []).append(item)
            elif isinstance(node, ast.Module):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        defs.setdefault(item.name, []).append(item)
    names: set[str] = set()
    for path, tree in trees.items():
        names |= _names_used(_import_time(tree, entry_point=path == entry))
    reached: set[int] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        for key in (name, *(k for k in defs if k.startswith(f"{name}.__"))):
            for func in defs.get(key, []):
                if id(func) in reached:
                    continue
                reached.add(id(func))
                for new in _names_used(ast.walk(func)) - names:
                    names.add(new)
                    todo.append(new)
    return reached


# ---------------------------------------------------------------- params reads

def _annotation_type(node: ast.expr | None) -> str | None:
    """`Params` / a section name for an annotation naming one (`X | None`, 'X' strings too)."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _annotation_type(node.left) or _annotation_type(node.right)
    if isinstance(node, ast.Subscript):  # Optional[X]
        return _annotation_type(node.slice)
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name == PARAMS:
        return PARAMS
    return SECTION_OF_CLASS.get(name or "")


def _string_tuple(node: ast.expr | None, constants: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


class _Reads(ast.NodeVisitor):
    """Params reads of one module; see the module docstring for what counts."""

    def __init__(self, entry_point: bool, reachable: set[int]) -> None:
        self.entry_point = entry_point  # the stage module: its load_params is the stage's params
        self.reachable = reachable  # ids of the top-level functions and methods to read (nested ones follow)
        self.reads: set[str] = set()
        self.constants: dict[str, tuple[str, ...]] = {}
        self.loaded: set[str] = set()  # sections the stage module's load_params names
        self.scopes: list[dict[str, str]] = [{}]
        self.class_attrs: list[dict[str, str]] = []
        self._comprehensions: list[ast.DictComp | ast.ListComp | ast.SetComp | ast.GeneratorExp] = []
        self._parents: dict[int, ast.AST] = {}

    # -- types of expressions

    def type_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            for scope in reversed(self.scopes):
                if node.id in scope:
                    return scope[node.id]
            return None
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self" and self.class_attrs:
                return self.class_attrs[-1].get(node.attr)
            if self.type_of(node.value) == PARAMS and node.attr in SECTIONS:
                return node.attr
            return None
        if isinstance(node, ast.Call) and self._is_load_params(node):
            return PARAMS if self.entry_point else "other-entry-point"
        return None

    @staticmethod
    def _callee(node: ast.Call) -> str:
        f = node.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""

    def _is_load_params(self, node: ast.Call) -> bool:
        return self._callee(node) == "load_params"

    def _whole(self, section: str, but: Iterable[str] = ()) -> None:
        if section == ALL_LOADED:
            self.reads.add(ALL_LOADED)
        elif section in TOP_LEVEL_SCALARS:
            self.reads.add(section)
        else:
            self.reads.update(f"{section}.{k}" for k in FIELDS[section] if k not in set(but))

    # -- scopes and bindings

    def visit_Module(self, node: ast.Module) -> None:
        for stmt in node.body:  # module-level tuples of names: SECTIONS = ("seed", ...), CONTEXT_KEYS
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                values = _string_tuple(stmt.value, {})
                for t in targets:
                    if isinstance(t, ast.Name) and values is not None:
                        self.constants[t.id] = values
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        attrs: dict[str, str] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                kind = _annotation_type(stmt.annotation)
                if kind:
                    attrs[stmt.target.id] = kind
        for sub in ast.walk(node):  # self.x = <typed argument> in any method
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                args = {a.arg: _annotation_type(a.annotation) for a in _all_args(sub.args)}
                for stmt in ast.walk(sub):
                    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Name) and args.get(stmt.value.id):
                        for t in stmt.targets:
                            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                                attrs[t.attr] = args[stmt.value.id]  # type: ignore[assignment]
        self.class_attrs.append(attrs)
        self.generic_visit(node)
        self.class_attrs.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        nested = len(self.scopes) > 1
        if not nested and id(node) not in self.reachable:
            return
        scope = {a.arg: t for a in _all_args(node.args) if (t := _annotation_type(a.annotation))}
        self.scopes.append(scope)
        self._bind_assignments(node)
        for stmt in node.body:
            self.visit(stmt)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _bind_assignments(self, func: ast.AST) -> None:
        """Local names bound to typed values (in any order: a name has one type in practice)."""
        for _ in range(3):  # a = params.x; b = a ... settles in a few rounds
            for node in ast.walk(func):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        self._bind(target, node.value)
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    kind = _annotation_type(node.annotation) or (node.value and self.type_of(node.value))
                    if kind:
                        self.scopes[-1][node.target.id] = kind

    def _bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts, strict=True):
                self._bind(t, v)
        elif isinstance(target, ast.Name):
            kind = self.type_of(value)
            if kind:
                self.scopes[-1][target.id] = kind

    # -- reads

    def visit_Call(self, node: ast.Call) -> None:
        callee = self._callee(node)
        if callee == "log_params":  # the banner: prints what was loaded, shapes nothing
            return
        if self.entry_point and self._is_load_params(node):
            for arg in node.args[1:]:
                if isinstance(arg, ast.Starred):
                    self.loaded.update(_string_tuple(arg.value, self.constants) or ())
                elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    self.loaded.add(arg.value)
        first = node.args[0] if node.args else None
        kind = self.type_of(first) if first is not None else None
        if kind in SECTIONS:
            if callee in ("asdict", "astuple", "vars"):
                self._whole(kind)
            elif callee == "replace":  # dataclasses.replace copies every field it does not set
                self._whole(kind, but=[k.arg for k in node.keywords if k.arg])
            elif callee == "getattr" and len(node.args) >= 2:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    self.reads.add(f"{kind}.{name.value}")
                else:
                    keys = self._iterated_names(name)
                    if keys is None:
                        self._whole(kind)
                    else:
                        self.reads.update(f"{kind}.{k}" for k in keys)
        if (isinstance(node.func, ast.Attribute) and node.func.attr == "to_dict"
                and self.type_of(node.func.value) == PARAMS):
            self._to_dict(node)
            return
        self.generic_visit(node)

    def _iterated_names(self, name: ast.expr) -> tuple[str, ...] | None:
        """`getattr(s, k) for k in KEYS`: the names in KEYS (a module-level tuple of strings)."""
        if not isinstance(name, ast.Name):
            return None
        for comp in self._comprehensions:
            for gen in comp.generators:
                if isinstance(gen.target, ast.Name) and gen.target.id == name.id:
                    return _string_tuple(gen.iter, self.constants)
        return None

    def _comprehension(self, node: ast.DictComp | ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self._comprehensions = [*self._comprehensions, node]
        self.generic_visit(node)
        self._comprehensions = self._comprehensions[:-1]

    visit_DictComp = visit_ListComp = visit_SetComp = visit_GeneratorExp = _comprehension

    def _to_dict(self, call: ast.Call) -> None:
        """params.to_dict(): every loaded section, unless picked: ["qa"] or `for k, v in ... if k in (...)`."""
        parent = self._parents.get(id(call))
        if isinstance(parent, ast.Subscript) and isinstance(parent.slice, ast.Constant):
            self._whole(str(parent.slice.value))
            return
        for comp in reversed(self._comprehensions):
            for gen in comp.generators:
                it = gen.iter
                if (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.value is call
                        and isinstance(gen.target, ast.Tuple) and isinstance(gen.target.elts[0], ast.Name)):
                    key = gen.target.elts[0].id
                    for cond in gen.ifs:
                        if (isinstance(cond, ast.Compare) and isinstance(cond.left, ast.Name)
                                and cond.left.id == key and isinstance(cond.ops[0], ast.In)):
                            for section in _string_tuple(cond.comparators[0], self.constants) or ():
                                self._whole(section)
                            return
        self._whole(ALL_LOADED)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        kind = self.type_of(node.value)
        if kind in SECTIONS and node.attr in FIELDS[kind]:
            self.reads.add(f"{kind}.{node.attr}")
        elif kind == PARAMS and node.attr in TOP_LEVEL_SCALARS:
            self.reads.add(node.attr)
        self.generic_visit(node)


def _all_args(args: ast.arguments) -> list[ast.arg]:
    return [*args.posonlyargs, *args.args, *args.kwonlyargs,
            *([args.vararg] if args.vararg else []), *([args.kwarg] if args.kwarg else [])]


def module_reads(tree: ast.Module, reachable: set[int], entry_point: bool = False) -> tuple[set[str], set[str]]:
    """(keys read, sections load_params names) of one module's reachable code; ALL_LOADED among the
    keys for to_dict()."""
    visitor = _Reads(entry_point, reachable)
    visitor._parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    visitor.visit(tree)
    return visitor.reads, visitor.loaded


def params_reads(repo: Path, stage_module: Path, closure: Iterable[str]) -> tuple[set[str], set[str]]:
    """(params keys the closure reads, as 'seed' / 'section.key'; sections the stage loads)."""
    entry = stage_module.resolve()
    trees = {p: parse(p) for p in {entry, *((repo / rel).resolve() for rel in closure)}}
    reachable = reachable_defs(trees, entry)
    reads, loaded = module_reads(trees[entry], reachable, entry_point=True)
    for path, tree in trees.items():
        if path != entry:
            reads |= module_reads(tree, reachable)[0]
    if ALL_LOADED in reads:
        reads.discard(ALL_LOADED)
        reads |= declared_keys(loaded)
    # a section the stage does not load is None in its Params: code reached with it never reads it
    # (load_base_model(quant=None) in generate_qa)
    return {r for r in reads if r.partition(".")[0] in loaded}, loaded


def declared_keys(entries: Iterable[str]) -> set[str]:
    """dvc.yaml params entries ('model', 'retrieval.k', 'seed') as the keys they cover."""
    keys: set[str] = set()
    for entry in entries:
        section, _, key = entry.partition(".")
        if key or section in TOP_LEVEL_SCALARS:
            keys.add(entry)
        else:
            keys.update(f"{section}.{k}" for k in FIELDS[section])
    return keys


# ---------------------------------------------------------------- dvc.yaml against the code

def entry_paths(entries: Iterable[object] | None) -> list[str]:
    """deps/outs entries are either 'path' or {'path': {options}}."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]  # type: ignore[call-overload]


def stage_closure(repo: Path, name: str) -> set[str]:
    return import_closure(repo, repo / "stages" / f"{name}.py")


def code_dep_problems(repo: Path, stages: dict[str, dict]) -> list[str]:
    """One line per mismatch between a stage's code deps and its import closure: a file the stage
    imports that no dep covers (a change there would not re-run it), and a code dep the stage
    does not import (a file, or a folder holding a module outside the closure: a change there would
    re-run a stage whose code did not change, so `dvc status` would not list exactly the importers)."""
    problems = []
    for name, stage in stages.items():
        closure = stage_closure(repo, name)
        deps = entry_paths(stage.get("deps"))
        for file in sorted(closure):
            if not covering(file, deps):
                problems.append(f"{name}: imports {file}, which no dep covers")
        for dep in deps:
            if not dep.startswith(tuple(f"{p}/" for p in PACKAGES)):
                continue
            path = repo / dep
            modules = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for module in modules:
                rel = PurePosixPath(module.relative_to(repo)).as_posix()
                if "__pycache__" in module.parts or rel in closure or (module.is_file() and is_inert(module)):
                    continue
                what = "" if module == path else f" (in {dep})"
                problems.append(f"{name}: dep {rel}{what} is not imported by the stage")
    return problems


def params_problems(repo: Path, stages: dict[str, dict]) -> list[str]:
    """One line per params key a stage reads but does not declare, or declares but never reads."""
    problems = []
    for name, stage in stages.items():
        module = repo / "stages" / f"{name}.py"
        reads, _ = params_reads(repo, module, stage_closure(repo, name))
        declared = declared_keys(stage.get("params") or [])
        problems += [f"{name}: reads {key}, not declared in params" for key in sorted(reads - declared)]
        problems += [f"{name}: declares {key}, which its code never reads" for key in sorted(declared - reads)]
    return problems
