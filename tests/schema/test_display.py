"""The web app's look in the schema: ``settings: display:`` (name, logo, colour, menu) and an
entity's ``display`` icon, group and menu; every mistake reported with its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tenantry.schema import MenuGroup, SchemaError, load_schema, load_schema_text
from tenantry.schema.icons import ICONS
from tenantry.schema.naming import readable_title

ENTITIES = """
organizations:
  - name: string (required)
projects:
  fields:
    - name: string (required)
  display: {plural: Projects, icon: folder, group: Work}
tasks:
  fields:
    - title: string (required)
  display: {icon: check-square, group: Work, menu: true}
notes:
  fields:
    - body: text
  display: {menu: false}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SchemaError) as caught:
        load_schema_text(textwrap.dedent(text), "s.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_app_display_settings(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    schema_file = tmp_path / "schema.yaml"
    schema_file.write_text(
        textwrap.dedent("""
        settings:
          display:
            name: Acme Tasks
            logo: logo.svg
            color: "#E5A"
            menu:
              - projects: rocket
              - Planning: [tasks, {notes: notebook}]
        """)
        + ENTITIES
    )
    schema = load_schema(schema_file)
    app = schema.app
    assert schema.app_name == "Acme Tasks"
    assert app.logo == str((tmp_path / "logo.svg").resolve())  # relative to the schema file
    assert app.color == "#ee55aa"
    assert app.menu == (MenuGroup(None, ("projects",)), MenuGroup("Planning", ("tasks", "notes")))
    assert dict(app.icons) == {"projects": "rocket", "notes": "notebook"}
    projects, tasks, notes = (schema.entities[n].display for n in ("projects", "tasks", "notes"))
    assert projects is not None and (projects.icon, projects.group, projects.menu) == ("folder", "Work", None)
    assert tasks is not None and tasks.menu is True
    assert notes is not None and notes.menu is False


def test_defaults_and_readable_names() -> None:
    schema = load_schema_text("Service Name: my-saas-api\n" + ENTITIES)
    assert schema.app.menu is None and schema.app.color is None and schema.app.logo is None
    assert schema.app_name == "My SaaS API"  # not the slug
    assert schema.title == "my-saas-api"  # the API's title is unchanged
    assert readable_title("acme_crm") == "Acme CRM"
    assert readable_title("Already Written") == "Already Written"
    assert {"folder", "users", "check-square", "home"} <= set(ICONS)


def test_mistakes_are_reported_at_their_lines() -> None:
    found = problems(
        """\
        settings:
          display:
            name: ""
            colour: red
            color: blue
            logo: missing.png
            menu:
              - projects: foldr
              - Work: [tasks, nothing]
              - 3
        organizations:
          - name: string (required)
        projects:
          fields:
            - name: string (required)
          display: {icon: rocketship, group: 5, menu: maybe, colour: x}
        tasks:
          - title: string
        """
    )
    assert "s.yaml:3: 'name' is the app's name, 1 to 60 characters" in found
    assert "s.yaml:4: unknown display setting 'colour' (settings: name, logo, color, menu)" in found
    assert any(p.startswith("s.yaml:5: 'color' must be a hex colour like \"#4f46e5\"") for p in found)
    assert any(p.startswith("s.yaml:6: 'logo' file 'missing.png' does not exist") for p in found)
    assert any(p.startswith("s.yaml:7: unknown icon 'foldr' for 'projects' in the menu (icons: ") for p in found)
    assert "s.yaml:7: the menu lists 'nothing', which is not an entity of this schema" in found
    assert any(p.startswith("s.yaml:7: 'menu' lists entities") and p.endswith("not 3") for p in found)
    assert any(p.startswith("s.yaml:16: unknown display option 'colour' for entity 'projects'") for p in found)
    assert any(p.startswith("s.yaml:16: unknown icon 'rocketship' for entity 'projects'") for p in found)
    assert "s.yaml:16: 'group' of entity 'projects' is a heading, e.g. 'group: Planning'" in found
    assert "s.yaml:16: 'menu' of entity 'projects' is true or false" in found


@pytest.mark.parametrize(
    ("display", "message"),
    [
        ("logo: notes.txt", "'logo' must be an image"),
        ("menu: projects", "'menu' lists entities"),
        ("menu: [projects, projects]", "the menu lists 'projects' twice"),
        ("color: '#12345'", "'color' must be a hex colour"),
    ],
)
def test_more_mistakes(display: str, message: str) -> None:
    found = problems(f"settings:\n  display:\n    {display}\n" + ENTITIES)
    assert any(message in p for p in found), found


def test_display_must_be_a_mapping() -> None:
    assert any("'display' in settings is a mapping" in p for p in problems("settings:\n  display: Acme\n" + ENTITIES))
