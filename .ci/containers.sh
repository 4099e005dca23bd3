# Sourced by .ci/run: what the container tests need, set up outside pytest's time budget.
#   podman + runc + debootstrap (apt), a containers.conf (runc; no default ulimits), podman's
#   Docker API service on a socket under a temp dir, the Debian base image and the CPU worker
#   image (`hpo image build`, skipped when the image of this commit exists).
# Exports DOCKER_HOST, CONTAINERS_CONF and HPO_TEST_IMAGE; on a machine where any step fails it
# says so and exports nothing, and the container tests skip with the reason.
hpo_containers_setup() {
    local started=$SECONDS
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "containers: not root or no apt-get; the container tests will skip"
        return 0
    fi
    if ! command -v podman >/dev/null || [ ! -x /usr/sbin/runc ] || ! command -v debootstrap >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            podman runc debootstrap) >/dev/null 2>&1 \
            || { echo "containers: apt-get install podman runc debootstrap failed; tests will skip"; return 0; }
    fi
    local dir
    dir="$(mktemp -d /tmp/hpo-ci-podman.XXXXXX)"
    # crun fails here ("cgroups in hybrid mode not supported"), and podman's default ulimits
    # cannot be set in this sandbox ("setrlimit RLIMIT_NOFILE: Operation not permitted").
    printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$dir/containers.conf"
    export CONTAINERS_CONF="$dir/containers.conf"
    podman --runtime /usr/sbin/runc system service --time=0 "unix://$dir/podman.sock" \
        >"$dir/service.log" 2>&1 &
    HPO_PODMAN_SERVICE_PID=$!
    local i
    for i in $(seq 1 60); do
        [ -S "$dir/podman.sock" ] && curl -sf --unix-socket "$dir/podman.sock" http://d/_ping >/dev/null && break
        sleep 0.5
    done
    if ! infra/images/debian-base.sh; then
        echo "containers: the Debian base image could not be built; the container tests will skip"
        return 0
    fi
    if ! python -m hpo image build; then
        echo "containers: the worker image could not be built; the container tests will skip"
        return 0
    fi
    export DOCKER_HOST="unix://$dir/podman.sock"
    HPO_TEST_IMAGE="hpo-worker:$(python -c 'from importlib.metadata import version; print(version("prefect-hpo"))')-cpu"
    export HPO_TEST_IMAGE
    echo "containers: ready in $((SECONDS - started)) s (DOCKER_HOST=$DOCKER_HOST, image $HPO_TEST_IMAGE)"
}
hpo_containers_setup
