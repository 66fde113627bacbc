"""Build-once image commands (ghosttasks.commands.docker_images) and their parsers, by exact output."""

import pytest

from ghosttasks.commands import docker_images, git

REG = "127.0.0.20:5000/ghostworks-api"
DIGEST = "sha256:" + "ab" * 32


def test_session_gives_the_commands_a_docker_config_of_their_own_removed_whatever_happens():
    assert docker_images.session(["docker pull x", "docker tag x y"]) == (
        'd=$(mktemp -d "${TMPDIR:-/tmp}/ghosttasks-docker.XXXXXXXX") && trap \'rm -rf -- "$d"\' EXIT && '
        "trap 'exit 129' HUP INT TERM && export DOCKER_CONFIG=\"$d\" && docker pull x && docker tag x y"
    )


def test_login_reads_the_password_from_stdin_only():
    assert docker_images.login("127.0.0.20:5000", "ghost") == (
        "docker login --username ghost --password-stdin 127.0.0.20:5000 >/dev/null"
    )


def test_tag_push_pull_and_digests_quote_every_name():
    assert docker_images.tag("ghostworks-api:v1.0.0", f"{REG}:v1.0.0") == (
        f"docker tag ghostworks-api:v1.0.0 {REG}:v1.0.0"
    )
    assert docker_images.push(f"{REG}:v1.0.0") == f"docker push --quiet {REG}:v1.0.0"
    assert docker_images.pull(docker_images.pinned(REG, DIGEST)) == f"docker pull --quiet {REG}@{DIGEST}"
    assert docker_images.repo_digests("a b") == "docker image inspect --format '{{json .RepoDigests}}' 'a b'"


def test_parse_digest_picks_the_repositorys_manifest_digest():
    other = "127.0.0.20:5000/ghostworks-web@sha256:" + "cd" * 32
    assert docker_images.parse_digest(f'["{other}","{REG}@{DIGEST}"]\n', REG) == DIGEST
    with pytest.raises(ValueError, match="no digest of"):
        docker_images.parse_digest(f'["{other}"]', REG)
    with pytest.raises(ValueError, match="not a list"):
        docker_images.parse_digest("Error: No such image", REG)
    with pytest.raises(ValueError, match="no digest of"):
        docker_images.parse_digest("[]", REG)


def test_running_digests_reads_the_compose_services_container_then_its_image():
    assert docker_images.running_digests("ghostworks-blue", "api") == (
        "c=$(docker ps -q --filter label=com.docker.compose.project=ghostworks-blue --filter "
        'label=com.docker.compose.service=api --filter label=com.docker.compose.oneoff=False) && [ -n "$c" ] '
        "|| { echo 'no running container' >&2; exit 3; }; "
        "i=$(docker inspect --format '{{.Image}}' $c) && docker image inspect --format '{{json .RepoDigests}}' \"$i\""
    )


def test_parse_references_keeps_only_the_named_repositories():
    output = (
        f"ghostworks-api v1.0.0 <none>\n{REG} v1.0.0 {DIGEST}\n{REG} <none> {DIGEST}\n"
        "ghostlab-base latest <none>\nghostworks-api dev <none>\n"
    )
    tags, pins = docker_images.parse_references(output, {"ghostworks-api", REG})
    assert tags == {"ghostworks-api:v1.0.0", f"{REG}:v1.0.0", "ghostworks-api:dev"}
    assert pins == {f"{REG}@{DIGEST}"}


def test_remove_sorts_and_quotes_and_does_nothing_for_nothing():
    assert docker_images.remove(["b:v1", f"{REG}@{DIGEST}", "a:v1"]) == (
        f'for n in {REG}@{DIGEST} a:v1 b:v1; do o=$(docker image rm "$n" 2>&1) || case $o in '
        "*'No such image'*) ;; *) echo \"$o\" >&2; exit 1;; esac; done"
    )
    assert docker_images.remove([]) == "true"


@pytest.mark.parametrize(
    ("output", "size"),
    [
        ("Images 1.2GB\nContainers 0B\n", 1_200_000_000),
        ("Images 190.5MB\n", 190_500_000),
        ("Images 12kB\n", 12_000),
        ("Images 0B\n", 0),
    ],
)
def test_parse_images_size(output, size):
    assert docker_images.parse_images_size(output) == size


def test_parse_images_size_refuses_anything_else():
    with pytest.raises(ValueError, match="no image size"):
        docker_images.parse_images_size("Containers 1GB\n")


def test_release_sizes_and_worktrees():
    assert docker_images.release_sizes(["/srv/r/v1.0.0"]) == "du -sk -- /srv/r/v1.0.0 2>/dev/null || true"
    assert docker_images.release_sizes([]) == "true"
    assert git.list_worktrees("/srv/app") == "git -C /srv/app worktree list --porcelain"
    porcelain = "worktree /srv/app\nHEAD 1234\nbranch refs/heads/main\n\nworktree /srv/r/v1.0.0\nHEAD 5678\ndetached\n"
    assert git.parse_worktrees(porcelain) == ["/srv/app", "/srv/r/v1.0.0"]
    assert git.remove_release("/srv/app", "/srv/r/v1.0.0") == "git -C /srv/app worktree remove --force /srv/r/v1.0.0"


def test_pull_missing_pulls_only_when_the_engine_lacks_that_digest():
    reference = docker_images.pinned(REG, DIGEST)
    assert docker_images.pull_missing(reference) == (
        f"{{ docker image inspect {reference} >/dev/null 2>&1 || docker pull --quiet {reference}; }}"
    )


def test_at_once_runs_every_command_in_the_background_and_fails_when_any_failed():
    assert docker_images.at_once(["a && b", "c"]) == (
        "( s=0; { a && b; } & p0=$!; { c; } & p1=$!; wait $p0 || s=1; wait $p1 || s=1; exit $s )"
    )
    assert docker_images.at_once(["a"]) == "a"


@pytest.mark.parametrize(("second", "code"), [("true", 0), ("sleep 0.1; false", 1)])
def test_at_once_waits_for_every_command_in_a_real_shell(tmp_path, second, code):
    import subprocess

    marker = tmp_path / "slow"
    command = docker_images.at_once([f"sleep 0.2 && touch {marker}", second]) + " && echo after"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert (result.returncode, marker.exists(), result.stdout) == (code, True, "after\n" if code == 0 else "")
