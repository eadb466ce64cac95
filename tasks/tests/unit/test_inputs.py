"""What a stage's build reads: COPY/ADD and bind-mount sources, .dockerignore, local
named contexts, the fallbacks, and symlinks that lead out of the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.console import ZoneError
from tasks.stack import bakefile, inputs
from tasks.tests.support import write

BAKE = """
target "app" {
  context = "images/app"
  contexts = { shared = "shared", up = "docker-image://example.org/up:1" }
}
"""


def reads(tmp_path: Path, dockerfile: str, ignore: str | None = None) -> inputs.Inputs:
    write(tmp_path, "images/app/Dockerfile", dockerfile)
    if ignore is not None:
        write(tmp_path, "images/app/.dockerignore", ignore)
    stage = bakefile.parse(BAKE, "test.hcl", {}, tmp_path).stages["app"]
    return inputs.of(tmp_path, stage)


def test_copy_sources_files_folders_and_globs(tmp_path: Path) -> None:
    found = reads(
        tmp_path,
        "FROM x\nCOPY guide.md /home/\nCOPY --chown=1:1 scripts/ /usr/bin/\n"
        'COPY ["conf/*.json", "/etc/"]\nADD https://example.org/a.tgz /opt/\n',
    )
    assert found.why("images/app/guide.md") == "images/app/guide.md (COPY, Dockerfile:2)"
    assert found.why("images/app/scripts/deep/x.sh") == (
        "images/app/scripts/deep/x.sh (COPY, Dockerfile:3)"
    )
    assert found.why("images/app/conf/a.json") == "images/app/conf/a.json (COPY, Dockerfile:4)"
    assert found.why("images/app/conf/sub/a.json") is None  # `*` stays in one folder
    assert found.why("images/app/README.md") is None
    assert found.why("images/app/a.tgz") is None
    assert found.why("images/app/Dockerfile") == "images/app/Dockerfile"
    assert found.why("images/other/guide.md") is None


def test_copy_from_a_build_stage_or_an_image_reads_nothing_here(tmp_path: Path) -> None:
    found = reads(
        tmp_path,
        "FROM x AS build\nCOPY --from=build /out /out\nCOPY --from=up /bin/tool /bin/\n",
    )
    assert found.why("images/app/out") is None
    assert found.why("images/app/bin/tool") is None


def test_copy_dot_reads_everything_the_dockerignore_lets_through(tmp_path: Path) -> None:
    found = reads(
        tmp_path,
        "FROM x\nCOPY . /src/\n",
        ignore="# not sent\n*.md\n!keep.md\n**/cache\n/build\n",
    )
    assert found.why("images/app/main.py") == "images/app/main.py (COPY, Dockerfile:2)"
    assert found.why("images/app/README.md") is None
    assert found.why("images/app/keep.md") == "images/app/keep.md (COPY, Dockerfile:2)"
    assert found.why("images/app/docs/x.md") is not None  # `*.md` is for the top folder only
    assert found.why("images/app/a/b/cache/blob") is None
    assert found.why("images/app/build/out") is None
    assert found.why("images/app/.dockerignore") == (
        "images/app/.dockerignore (decides what the build can read)"
    )


def test_a_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    write(tmp_path, "images/app/Dockerfile.dockerignore", "secret.txt\n")
    found = reads(tmp_path, "FROM x\nCOPY . /src/\n", ignore="")
    assert found.why("images/app/secret.txt") is None
    assert found.why("images/app/other.txt") is not None


def test_bind_mounts_read_their_source_and_default_to_the_whole_context(tmp_path: Path) -> None:
    found = reads(
        tmp_path,
        "FROM x\nRUN --mount=type=bind,source=wheels,target=/w pip install /w/*\n"
        "RUN --mount=type=cache,target=/root/.cache true\n",
    )
    assert found.why("images/app/wheels/a.whl") == (
        "images/app/wheels/a.whl (RUN --mount, Dockerfile:2)"
    )
    assert found.why("images/app/other.txt") is None
    everything = reads(tmp_path, "FROM x\nRUN --mount=target=/src make -C /src\n")
    assert everything.why("images/app/other.txt") is not None


def test_a_local_named_context_is_an_input_through_what_reads_it(tmp_path: Path) -> None:
    found = reads(tmp_path, "FROM x\nCOPY --from=shared certs/ /etc/certs/\n")
    assert found.why("shared/certs/ca.pem") == "shared/certs/ca.pem (COPY, Dockerfile:2)"
    assert found.why("shared/other.txt") is None
    whole = reads(tmp_path, "FROM shared\n")
    assert whole.why("shared/anything") == "shared/anything (FROM, Dockerfile:1)"


def test_sources_it_cannot_read_for_sure_count_every_file(tmp_path: Path) -> None:
    found = reads(tmp_path, "FROM x\nARG WHAT=a\nCOPY ${WHAT} /x/\n")
    assert found.why("images/app/anything.txt") == (
        "images/app/anything.txt (every file in the context: COPY ${WHAT} from a variable, "
        "Dockerfile:3)"
    )
    heredoc = reads(tmp_path, "FROM x\nCOPY <<EOF /etc/motd\nhello\nEOF\n")
    assert "COPY <<heredoc" in heredoc.why("images/app/anything.txt")


def test_each_read_names_the_line_of_the_first_instruction_that_reads_it(tmp_path: Path) -> None:
    dockerfile = "FROM x\nCOPY a.txt /a\nARG W=b\nCOPY ${W} /w/\nCOPY --from=shared f /f\n"
    found = reads(tmp_path, dockerfile)
    assert found.reader("images/app/a.txt") == ("images/app/a.txt (COPY, Dockerfile:2)", 2)
    # Read by line 2 for sure, and maybe by the uncertain line 4 after it: line 2 first.
    assert found.reader("images/app/other.txt")[1] == 4  # only the uncertain COPY
    # Outside the context, the uncertain COPY reads nothing: the named context's COPY does.
    assert found.reader("shared/f") == ("shared/f (COPY, Dockerfile:5)", 5)
    assert found.reader("images/app/Dockerfile") == ("images/app/Dockerfile", 0)


def test_a_named_context_outside_the_repository_is_refused(tmp_path: Path) -> None:
    text = 'target "app" {\n  context = "images/app"\n  contexts = { etc = "../../etc" }\n}\n'
    with pytest.raises(ZoneError, match="outside the project folder"):
        bakefile.parse(text, "test.hcl", {}, tmp_path)


def app_stage(root: Path) -> bakefile.Stage:
    return bakefile.parse('target "app" {\n  context = "images/app"\n}\n', "t.hcl", {}).stages[
        "app"
    ]


@pytest.mark.parametrize("link", ["images/app/etc", "images/app"])
def test_symlinks_out_of_the_repository_are_refused(tmp_path: Path, link: str) -> None:
    repo = tmp_path / "repo"
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "s\n")
    (repo / "images").mkdir(parents=True)
    if link == "images/app":
        (repo / link).symlink_to(outside, target_is_directory=True)
    else:
        write(repo, "images/app/Dockerfile", "FROM x\n")
        (repo / link).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ZoneError, match=f"{link} is a symlink to .*outside the repository"):
        inputs.refuse_links_outside(repo, repo, app_stage(repo))


def test_symlinks_inside_the_repository_or_ignored_are_fine(tmp_path: Path) -> None:
    write(tmp_path, "images/app/real.txt")
    (tmp_path / "images/app/link.txt").symlink_to("real.txt")
    (tmp_path / "images/app/.venv/bin").mkdir(parents=True)
    (tmp_path / "images/app/.venv/bin/python").symlink_to("/usr/bin/python3")
    write(tmp_path, "images/app/.dockerignore", ".venv\n")
    inputs.refuse_links_outside(tmp_path, tmp_path, app_stage(tmp_path))
    write(tmp_path, "images/app/.dockerignore", ".venv\n!.venv/bin/python\n")
    with pytest.raises(ZoneError, match=r"images/app/\.venv/bin/python is a symlink"):
        inputs.refuse_links_outside(tmp_path, tmp_path, app_stage(tmp_path))


def test_docker_pattern_details(tmp_path: Path) -> None:
    """moby's rules: `**` before more pattern is any folders (so `**.md` is only `.md`), a
    comment needs `#` first, and a COPY source's `..` stops at the context."""
    found = reads(tmp_path, "FROM x\nCOPY . /src/\nCOPY ../up.txt /x\n", ignore="**.md\n #x\n")
    assert found.why("images/app/README.md") is not None
    assert found.why("images/app/.md") is None
    assert found.why("images/app/sub/.md") is None
    assert found.why("images/app/#x") is None  # " #x" is a pattern, not a comment
    explicit = reads(tmp_path, "FROM x\nCOPY ../up.txt /x\n")
    assert explicit.why("images/app/up.txt") == "images/app/up.txt (COPY, Dockerfile:2)"
