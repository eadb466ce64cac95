"""Which own instructions of a stage a change runs again (no engine: Dockerfile texts)."""

from __future__ import annotations

from tasks.stack.invalidation import first_rebuilt, own_instructions

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PIP_VERSION=24.0
ENV LANG=C.UTF-8
COPY config/ /etc/zone/
RUN pip install pip==${PIP_VERSION}
ONBUILD RUN echo never in the history
COPY start.sh /usr/local/bin/
CMD ["start.sh"]
"""


def test_own_instructions_are_those_after_the_images_from_that_leave_history() -> None:
    keywords = [item.keyword for item in own_instructions(DOCKERFILE)]
    assert keywords == ["ARG", "ENV", "COPY", "RUN", "COPY", "CMD"]  # no ONBUILD
    multi = "FROM a AS build\nRUN make\nFROM b AS final\nCOPY --from=build /x /x\nFROM c\nRUN z\n"
    assert [i.arguments for i in own_instructions(multi)] == ["z"]
    assert [i.keyword for i in own_instructions(multi, "final")] == ["COPY"]


def test_an_edited_instruction_runs_again_from_itself() -> None:
    edited = DOCKERFILE.replace("COPY start.sh", "COPY --chmod=755 start.sh")
    start = first_rebuilt(DOCKERFILE, edited, None, [])
    assert (start.index, start.why) == (4, "the Dockerfile changed here")
    assert start.instruction == "COPY start.sh /usr/local/bin/"  # as the release had it
    # BuildKit keys a RUN on its exact command line: spaces count.
    spaced = DOCKERFILE.replace("RUN pip install", "RUN pip  install")
    assert first_rebuilt(DOCKERFILE, spaced, None, []).index == 3
    # Comments and continuation lines are not instructions: nothing runs again.
    commented = DOCKERFILE.replace("COPY config/", "# the config\nCOPY config/")
    assert first_rebuilt(DOCKERFILE, commented, None, []).index == 6


def test_instructions_removed_from_the_end_run_nothing_again() -> None:
    shorter = DOCKERFILE.replace('CMD ["start.sh"]\n', "")
    assert first_rebuilt(DOCKERFILE, shorter, None, []).index == 6


def test_an_instruction_added_at_the_end_replaces_none_of_the_release() -> None:
    start = first_rebuilt(DOCKERFILE, DOCKERFILE + "ENV ADDED=1\n", None, [])
    assert start.index == len(own_instructions(DOCKERFILE))


def test_a_changed_file_runs_again_from_the_copy_that_reads_it() -> None:
    line = DOCKERFILE.splitlines().index("COPY start.sh /usr/local/bin/") + 1
    start = first_rebuilt(DOCKERFILE, DOCKERFILE, None, [(line, "start.sh (COPY)")])
    assert (start.index, start.why) == (4, "start.sh (COPY)")
    # The earliest change wins: a file read at line 5 and an edit at the CMD.
    edited = DOCKERFILE.replace('CMD ["start.sh"]', 'CMD ["bash"]')
    start = first_rebuilt(DOCKERFILE, edited, None, [(5, "config/a (COPY)")])
    assert (start.index, start.why) == (2, "config/a (COPY)")


def test_what_decides_the_whole_build_runs_everything_again() -> None:
    assert first_rebuilt(DOCKERFILE, DOCKERFILE, None, [(0, ".dockerignore")]).index == 0
    assert first_rebuilt(DOCKERFILE, DOCKERFILE, None, [], whole="parent mid is rebuilt") == (
        first_rebuilt(None, DOCKERFILE, None, [], whole="parent mid is rebuilt")
    )
    assert first_rebuilt(None, DOCKERFILE, None, []).why == "a new Dockerfile"
    moved = DOCKERFILE.replace("FROM ${BASE_IMAGE}", "FROM ${BASE_IMAGE} AS final")
    assert first_rebuilt(DOCKERFILE, moved, None, []).index == 0


def test_a_changed_build_arg_runs_again_from_its_first_use() -> None:
    # Docker: the first RUN after its ARG uses it (build args are RUN's environment).
    start = first_rebuilt(DOCKERFILE, DOCKERFILE, None, [], changed_args=["PIP_VERSION"])
    assert (start.index, start.why) == (3, "build arg PIP_VERSION")
    start = first_rebuilt(DOCKERFILE, DOCKERFILE, None, [], changed_args=["BASE_IMAGE"])
    assert (start.index, start.why) == (0, "build arg BASE_IMAGE (used by its FROM)")
    assert first_rebuilt(DOCKERFILE, DOCKERFILE, None, [], changed_args=["UNUSED"]).index == 6


def test_a_build_arg_read_before_the_images_from_runs_everything_again() -> None:
    multi = "FROM base AS deps\nARG PIP_INDEX\nRUN pip download x\nFROM deps\nRUN ls\n"
    start = first_rebuilt(multi, multi, None, [], changed_args=["PIP_INDEX"])
    assert (start.index, start.why) == (0, "build arg PIP_INDEX (read before its FROM)")
    redeclared = "ARG BASE\nFROM ${BASE}\nARG BASE\nCOPY a /a\nRUN echo $BASE\n"
    start = first_rebuilt(redeclared, redeclared, None, [], changed_args=["BASE"])
    assert (start.index, start.why) == (0, "build arg BASE (used by its FROM)")
