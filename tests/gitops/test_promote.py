import pytest
import yaml

from tests.gitops.gitopskit import IMAGE
from tooling.gitops.promote import PromoteError, pin_digest

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64

TAGGED = f"""\
# prod overlay
namespace: geozarr
images:
  - name: {IMAGE}
    newTag: v1.2.3   # staging's tag
  - name: docker.io/library/busybox
    newTag: "1.36"
resources:
  - ../../base
"""

PINNED = TAGGED.replace("newTag: v1.2.3   # staging's tag", f"digest: {D1}")


@pytest.mark.parametrize(
    ("text", "digest"),
    [(TAGGED, D1), (PINNED, D2), (PINNED, D1)],
    ids=["tag-to-digest", "digest-to-digest", "same-digest"],
)
def test_pin_digest_sets_only_the_runner_entry(text, digest):
    new = pin_digest(text, IMAGE, digest)
    images = {e["name"]: e for e in yaml.safe_load(new)["images"]}
    assert images[IMAGE] == {"name": IMAGE, "digest": digest}
    assert images["docker.io/library/busybox"] == {"name": "docker.io/library/busybox", "newTag": "1.36"}
    assert new.startswith("# prod overlay\n")  # comments and order kept
    assert new.rstrip().endswith("- ../../base")


@pytest.mark.parametrize(
    ("text", "digest", "message"),
    [
        (TAGGED, "v1.2.3", "not an image digest"),
        (TAGGED, "sha256:abc", "not an image digest"),
        (TAGGED.replace(IMAGE, "ghcr.io/other/image"), D1, "found 0"),
    ],
    ids=["tag-refused", "short-digest", "no-entry"],
)
def test_pin_digest_refuses(text, digest, message):
    with pytest.raises(PromoteError, match=message):
        pin_digest(text, IMAGE, digest)


def test_pin_digest_on_the_real_prod_overlay():
    from tooling import repo

    text = (repo.overlay_dir("prod") / "kustomization.yaml").read_text()
    new = pin_digest(text, IMAGE, D2)
    assert [e for e in yaml.safe_load(new)["images"] if e["name"] == IMAGE] == [{"name": IMAGE, "digest": D2}]
    assert len(new.splitlines()) == len(text.splitlines()) - ("newTag:" in text)


def test_the_runner_image_is_read_from_the_render():
    from tooling.gitops.promote import runner_repository

    assert runner_repository("prod") == IMAGE


def test_unknown_env_is_one_line_not_a_traceback(capsys) -> None:
    """Issue 9, case 8: `invoke promote --env dev`."""
    from tooling.gitops import promote as mod

    assert mod.main("sha256:" + "a" * 64, env="dev") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown env 'dev'" in err and "Traceback" not in err
