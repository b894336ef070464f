"""The key schema is the one source backups read: every builder of `Keys` says whether
backups keep its keys (entity), rebuild them (derived) or leave them out (excluded)."""

from __future__ import annotations

import inspect

import pytest

from blog.data.keys import DERIVED, ENTITY, EXCLUDED, FAMILIES, Keys, builders, family_of
from blog.data.records import READ_WITH_POST

SAMPLE_ARGUMENTS = {int: 42, str: "some:text"}


def sample_key(keys: Keys, name: str, function) -> str:
    """Call a builder with a sample value per parameter (int or str, as annotated)."""
    hints = inspect.signature(function, eval_str=True).parameters
    arguments = [SAMPLE_ARGUMENTS[p.annotation] for p in list(hints.values())[1:]]
    if name in ("image", "image_posts"):
        arguments = ["Ab3_-x"]  # image ids are one segment (secrets.token_urlsafe)
    if name == "next_id":
        arguments = ["post"]
    return getattr(keys, name)(*arguments) if arguments else getattr(keys, name)


@pytest.mark.parametrize(("name", "function"), list(builders()))
def test_every_key_builder_has_a_backup_classification(name, function):
    family = getattr(function, "key_family", None)
    assert family is not None, (
        f"Keys.{name} has no key family: decorate it with "
        "@family('<template>', ENTITY | DERIVED | EXCLUDED) (see blog/data/keys.py) "
        "and add it to docs/data-model.md, or a restore may lose or duplicate its keys"
    )
    assert family.backup in (ENTITY, DERIVED, EXCLUDED)


@pytest.mark.parametrize(("name", "function"), list(builders()))
def test_each_builder_makes_keys_of_its_own_family(name, function):
    keys = Keys("blog:")
    key = sample_key(keys, name, function)
    if not isinstance(key, str):
        return  # a helper spelling key parts for a script: its family is enough
    assert key.startswith("blog:")
    assert family_of(keys.name(key)).template == function.key_family.template, key


def test_families_do_not_overlap():
    keys = Keys("pfx:")
    for name, function in builders():
        key = sample_key(keys, name, function)
        if not isinstance(key, str):
            continue
        templates = {f.template for f in FAMILIES if f.match(keys.name(key)) is not None}
        assert templates == {function.key_family.template}, (key, templates)


def test_the_post_export_reads_exactly_the_families_read_with_a_post():
    # A family marked read_with="post" that the post's Lua script does not read would
    # silently be left out of every backup.
    assert {f.name for f in FAMILIES if f.read_with == "post"} == READ_WITH_POST


def test_a_builder_without_classification_is_caught():
    class Grown(Keys):
        def drafts(self, user_id: int) -> str:
            return self.key("drafts", user_id)

    unclassified = [n for n, f in builders(Grown) if not hasattr(f, "key_family")]
    assert unclassified == ["drafts"]


def test_every_template_starts_with_a_literal_segment():
    # family_of() looks families up by their first segment.
    assert all(not f.template.startswith("<") for f in FAMILIES)


def test_unknown_keys_belong_to_no_family():
    assert family_of("plugin:thing") is None
    assert family_of("post:abc") is None  # post ids are decimal
