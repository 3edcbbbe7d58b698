#!/usr/bin/env python3
"""Writes etc/ldap/vdmail.ldif (cn=config form) from etc/ldap/vdmail.schema
(slapd.conf form), so the two files always define the same schema.

    python3 tests/e2e/schema_to_ldif.py          # rewrite the .ldif
    python3 tests/e2e/schema_to_ldif.py --check  # exit 1 if it is stale

Also a module: parse_schema(text) and parse_ldif(text) return the
definitions of either file as [(kind, normalised definition)], which
test_ldap_schema.py compares.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(ROOT, "etc", "ldap", "vdmail.schema")
LDIF = os.path.join(ROOT, "etc", "ldap", "vdmail.ldif")
DN = "cn=vdmail,cn=schema,cn=config"

_KINDS = {"attributetype": "olcAttributeTypes",
          "objectclass": "olcObjectClasses",
          "objectidentifier": "olcObjectIdentifier"}


def _norm(definition):
    """One space between tokens, none inside quotes touched."""
    return re.sub(r"\s+", " ", definition.strip())


def parse_schema(text):
    """[(kind, definition)] of a slapd.conf schema file; kind is
    'attributetype', 'objectclass' or 'objectidentifier'."""
    out = []
    cur = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if cur is None:
                raise ValueError("continuation without a definition: " + line)
            cur[1].append(line)
            continue
        word, _, rest = line.partition(" ")
        if "\t" in word:
            word, _, rest2 = line.partition("\t")
            rest = rest2
        kind = word.lower()
        if kind not in _KINDS:
            raise ValueError("unknown schema keyword: " + word)
        cur = (kind, [rest])
        out.append(cur)
    return [(k, _norm(" ".join(parts))) for k, parts in out]


def parse_ldif(text):
    """[(kind, definition)] of a cn=config schema LDIF (one entry); the
    {N} ordering prefixes are dropped."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(" ") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    back = {v.lower(): k for k, v in _KINDS.items()}
    out = []
    for line in lines:
        attr, sep, value = line.partition(":")
        if not sep or attr.lower() not in back:
            continue
        value = re.sub(r"^\{\d+\}", "", value.strip())
        out.append((back[attr.lower()], _norm(value)))
    return out


def _fold(attr, definition):
    """The definition as attr: value with one continuation line per
    keyword (a continuation line starts with one space, which LDIF drops,
    then the space that separates the tokens)."""
    # split before each keyword that begins a clause
    parts = re.split(r" (?=(?:NAME|DESC|SUP|EQUALITY|ORDERING|SUBSTR|SYNTAX|"
                     r"SINGLE-VALUE|NO-USER-MODIFICATION|USAGE|MUST|MAY|OBSOLETE|"
                     r"X-[A-Z-]+)\b)"
                     r"(?=(?:[^']*'[^']*')*[^']*$)", definition)
    lines = [attr + ": " + parts[0]]
    for p in parts[1:]:
        # long MAY/MUST lists: wrap after a '$'
        line = " "
        for word in p.split(" "):
            if len(line) + len(word) > 76 and line.strip():
                lines.append(line)
                line = "   "
            line += " " + word
        lines.append(line)
    return "\n".join(lines)


def header(text):
    """The leading comment block of the .schema file."""
    out = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return out


def to_ldif(text):
    defs = parse_schema(text)
    out = header(text)
    out.append("#")
    out.append("# This file is GENERATED from vdmail.schema by "
               "tests/e2e/schema_to_ldif.py;")
    out.append("# edit vdmail.schema and rerun it. Load with:")
    out.append("#   ldapadd -Y EXTERNAL -H ldapi:/// -f vdmail.ldif")
    out.append("")
    out.append("dn: " + DN)
    out.append("objectClass: olcSchemaConfig")
    out.append("cn: vdmail")
    for kind in ("objectidentifier", "attributetype", "objectclass"):
        for k, d in defs:
            if k == kind:
                out.append(_fold(_KINDS[k], d))
    return "\n".join(out) + "\n"


def main():
    with open(SCHEMA) as f:
        ldif = to_ldif(f.read())
    if sys.argv[1:] == ["--check"]:
        with open(LDIF) as f:
            if f.read() != ldif:
                print("%s is stale; run %s" % (LDIF, sys.argv[0]))
                sys.exit(1)
        return
    with open(LDIF, "w") as f:
        f.write(ldif)


if __name__ == "__main__":
    main()
