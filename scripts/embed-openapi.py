#!/usr/bin/env python3
"""Writes Sources/Node/OpenAPIDocument.swift from docs/openapi.yaml (`make openapi`)."""
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
yaml = (root / "docs/openapi.yaml").read_text(encoding="utf-8")
assert '"""##' not in yaml
swift = (
    "// Generated from docs/openapi.yaml by `make openapi`; NodeTests keep the two equal.\n"
    "public enum OpenAPIDocument {\n"
    "  public static let yaml = ##\"\"\"\n"
    # Indented as swift-format leaves it; the closing delimiter's indentation is stripped.
    + "".join("    " + line if line.strip() else line for line in yaml.splitlines(keepends=True))
    + "    \"\"\"##\n}\n"
)
(root / "Sources/Node/OpenAPIDocument.swift").write_text(swift, encoding="utf-8")
