"""The integrity report (issue 19): code in a submission that reaches for the grader rather than doing the lesson.

A static reading of the code grading extracted (autograder.notebook.Definitions: every top-level statement of the
student's code cells, the kit's test cells left out), never run. Each flag names the place ("code cell N, line L"),
what the code reaches for, and the code itself. A flag never changes a score: the judges decide from evidence they
recompute, and a flagged notebook that did the work keeps its points; the flags tell the instructor where to look.
They go into the instructor's report (instructor.txt, the batch's folders, nbgrader's log) and into results.json's
`extra_data` (Gradescope shows extra_data to instructors only).

The rules below name what the lesson's code never needs and an attack on the grader does (measured: no flag on
the reference, the corpus's correct variants and its mutants; the attacks of tests/adversarial.py: tests/test_integrity.py).
"""

from __future__ import annotations

import ast

# Modules the lesson never imports, and why an attack would.
MODULES = {
    "autograder": "the grading kit itself",
    "gc": "the garbage collector (finds the grader's objects)",
    "ctypes": "raw memory and C calls",
    "inspect": "frames and the caller's variables",
    "subprocess": "other processes",
    "multiprocessing": "other processes",
    "socket": "the network",
    "signal": "signal handlers (ignoring the grader's stop)",
    "importlib": "imports by name, reloads",
    "builtins": "Python's builtins",
    "pickle": "unpickling (arbitrary code, pretrained objects)",
    "marshal": "code objects",
    "threading": "threads that outlive a call",
    "resource": "the process's limits",
    "shutil": "files and folders",
    "urllib": "the network",
    "requests": "the network",
}
# Attribute names: frames, interpreter state, processes.
ATTRIBUTES = {
    "modules": ("sys", "sys.modules: every loaded module, the grader's included"),
    "_getframe": ("sys", "the caller's frame"),
    "settrace": ("sys", "a tracer over the grader's code"),
    "setprofile": ("sys", "a profiler over the grader's code"),
    "f_back": (None, "a calling frame"),
    "f_globals": (None, "a frame's globals"),
    "f_locals": (None, "a frame's locals"),
    "tb_frame": (None, "a traceback's frame"),
    "gi_frame": (None, "a generator's frame"),
    "__globals__": (None, "a function's globals"),
    "__subclasses__": (None, "every subclass (reaches classes not imported)"),
    "__builtins__": (None, "Python's builtins"),
    "fork": ("os", "a second process"),
    "forkpty": ("os", "a second process"),
    "setsid": ("os", "a process outside the grader's group"),
    "_exit": ("os", "ending the process without an error"),
    "kill": ("os", "signals to processes"),
    "killpg": ("os", "signals to processes"),
    "system": ("os", "a shell"),
    "popen": ("os", "a shell"),
    "environ": ("os", "the environment (where keys live)"),
    "getenv": ("os", "the environment (where keys live)"),
}
CALLS = {
    "exec": "code run from a string",
    "eval": "code run from a string",
    "compile": "code compiled from a string",
    "__import__": "an import by name",
    "open": "reading or writing a file",
    "setattr": "setting an attribute by name",
    "globals": "the module's globals",
    "vars": "an object's namespace",
}
STRINGS = {
    "/proc": "the process table (other processes' memory, environment, files)",
    "/kit": "the grader's own modules",
    "autograder": "the grading kit",
    "AUTOGRADER": "the grader's settings",
    "/etc/": "the system's files",
}
# Methods of the student's classes through which the grader reads a model: overriding them shows the grader
# something other than the model that runs.
OVERRIDES = {"state_dict", "load_state_dict", "parameters", "named_parameters", "__getattribute__", "__getattr__",
             "__setattr__", "__reduce__", "__reduce_ex__", "__class_getitem__", "__init_subclass__", "__del__"}
# Patching a library the grader reads: an assignment to an attribute of these modules (or of their members).
PATCHED = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "np": "numpy", "numpy": "numpy",
           "sklearn": "scikit-learn", "fakenews_lesson": "the lesson's helpers", "math": "math", "builtins":
           "Python's builtins", "sys": "sys", "os": "os", "optim": "torch.optim"}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _flags_in(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 1)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top in MODULES:
                    found.append((line, f"imports {name}: {MODULES[top]}"))
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("os", "sys"):
                for alias in node.names:
                    if alias.name in ATTRIBUTES:
                        found.append((line, f"imports {node.module}.{alias.name}: {ATTRIBUTES[alias.name][1]}"))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
            owner, why = ATTRIBUTES[node.attr]
            if owner is None or _root(node.value) == owner:
                found.append((line, f"uses {owner + '.' if owner else ''}{node.attr}: {why}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS:
            found.append((line, f"calls {node.func.id}(): {CALLS[node.func.id]}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for text, why in STRINGS.items():
                if text in node.value:
                    found.append((line, f"names {text!r} in a string: {why}"))
                    break
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in OVERRIDES:
                    found.append((item.lineno, f"overrides {node.name}.{item.name}: what the grader reads of a "
                                               "model"))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, (ast.Attribute, ast.Subscript)) and _root(target) in PATCHED:
                    found.append((line, f"changes {PATCHED[_root(target)]} ({_root(target)}...): a library the "
                                        "grader reads"))
    return found


def scan(definitions) -> list[str]:
    """Every flag in the extracted code, as "code cell N, line L: what (`the line`)", in notebook order, each place
    and reason once. Total: a block that does not parse (it parsed when extracted) is skipped."""
    flags: dict[str, None] = {}
    for block in getattr(definitions, "blocks", []):
        try:
            tree = ast.parse(block.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        lines = block.source.splitlines()
        for line, what in sorted(_flags_in(tree)):
            code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            if len(code) > 80:
                code = code[:77] + "..."
            flags[f"code cell {block.cell}, line {block.line + line - 1}: {what} (`{code}`)"] = None
    return list(flags)
