"""evalkit.pipeline.netguard: no network at run time, in the runner's process and in every kernel.

No test here reaches outside this machine: addresses are from TEST-NET-1
(192.0.2.0/24) and the IPv6 documentation range (2001:db8::/32), which are
never routed, and where a test could otherwise send a packet or a DNS query the
real socket function is replaced by a tripwire that records the call instead.
"""

from __future__ import annotations

import os
import pickle
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

from evalkit.errors import EvalkitError
from evalkit.pipeline import netguard
from evalkit.pipeline.execute import execute_notebook
from evalkit.pipeline.netguard import NetworkDisabledError, kernel_environment, no_network

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
MESSAGE = "evalkit: network access is disabled while building packs (tried 192.0.2.1:80)"


@pytest.fixture(autouse=True)
def guard_off_afterwards(monkeypatch):
    """Whatever a test does, the guard is off before monkeypatch puts the socket module back."""
    yield
    netguard.deactivate()


@pytest.fixture
def tripwires(monkeypatch) -> list[tuple]:
    """Replace the functions that would reach the network with recorders; the guard wraps these."""
    calls: list[tuple] = []

    def recorder(name):
        def record(*args, **kwargs):
            calls.append((name, args[1:] if name.startswith("socket.") else args))
            return 0 if name == "socket.connect_ex" else None
        return record

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, recorder(f"socket.{name}"))
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "create_connection"):
        monkeypatch.setattr(socket, name, recorder(name))
    return calls


def test_connect_outside_is_refused_before_the_os_is_asked(tripwires):
    with no_network(), socket.socket() as sock:
        with pytest.raises(NetworkDisabledError, match=r"\(tried 192\.0\.2\.1:80\)"):
            sock.connect(("192.0.2.1", 80))
        with pytest.raises(NetworkDisabledError, match=r"192\.0\.2\.1:443"):
            sock.connect_ex(("192.0.2.1", 443))
        with pytest.raises(NetworkDisabledError, match=r"192\.0\.2\.1:53"):
            socket.create_connection(("192.0.2.1", 53))
    assert tripwires == []


def test_name_lookups_outside_are_refused(tripwires):
    with no_network():
        with pytest.raises(NetworkDisabledError, match=r"\(tried example\.org:443\)"):
            socket.getaddrinfo("example.org", 443)
        with pytest.raises(NetworkDisabledError, match=r"\(tried example\.org\)"):
            socket.getaddrinfo("example.org", None)
        for lookup in (socket.gethostbyname, socket.gethostbyname_ex):
            with pytest.raises(NetworkDisabledError, match="example.org"):
                lookup("example.org")
        with pytest.raises(NetworkDisabledError, match="192.0.2.1"):
            socket.gethostbyaddr("192.0.2.1")
        with pytest.raises(NetworkDisabledError, match="example.org:80"):
            socket.create_connection(("example.org", 80))
    assert tripwires == []


@pytest.mark.parametrize(("family", "address", "allowed"), [
    (socket.AF_INET, ("127.0.0.1", 8888), True),
    (socket.AF_INET, ("127.45.6.7", 8888), True),
    (socket.AF_INET, ("localhost", 8888), True),
    (socket.AF_INET, ("0.0.0.0", 8888), True),
    (socket.AF_INET6, ("::1", 8888, 0, 0), True),
    (socket.AF_INET6, ("::ffff:127.0.0.1", 8888, 0, 0), True),
    (socket.AF_INET, ("10.0.0.1", 80), False),  # this machine's LAN is still the network
    (socket.AF_INET, ("169.254.169.254", 80), False),  # a cloud metadata service
    (socket.AF_INET, ("localhost.example.org", 80), False),
    (socket.AF_INET6, ("2001:db8::1", 80, 0, 0), False),
    (socket.AF_INET6, ("::ffff:192.0.2.1", 80, 0, 0), False),
])
def test_only_this_machine_is_allowed(tripwires, family, address, allowed):
    with no_network(), socket.socket(family, socket.SOCK_STREAM) as sock:
        if allowed:
            sock.connect(address)
            assert tripwires == [("socket.connect", (address,))]
        else:
            host, port = address[0], address[1]
            tried = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            with pytest.raises(NetworkDisabledError, match=re.escape(f"(tried {tried})")):
                sock.connect(address)
            assert tripwires == []


def test_udp_send_outside_is_refused(tripwires):
    with no_network(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(NetworkDisabledError, match=r"192\.0\.2\.1:53"):
            sock.sendto(b"query", ("192.0.2.1", 53))
        sock.sendto(b"query", ("127.0.0.1", 53))
    assert tripwires == [("socket.sendto", (b"query", ("127.0.0.1", 53)))]


def test_a_real_connect_is_refused_at_once():
    with no_network(), socket.socket() as sock:
        sock.settimeout(5)  # never reached: the guard refuses first
        clock = time.perf_counter()
        with pytest.raises(ConnectionRefusedError, match=MESSAGE.replace("(", r"\(").replace(")", r"\)")):
            sock.connect(("192.0.2.1", 80))
        assert time.perf_counter() - clock < 0.5


def test_local_tcp_and_unix_sockets_still_work(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server, no_network():
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            peer, _ = server.accept()
            client.sendall(b"ping")
            assert peer.recv(4) == b"ping"
            peer.close()
        assert socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, no_network():
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)


def test_activate_deactivate_and_nesting_restore_the_socket_module():
    connect, lookup = socket.socket.connect, socket.getaddrinfo
    assert not netguard.is_active()
    netguard.activate()
    netguard.activate()  # twice is once
    with no_network():
        pass
    assert netguard.is_active() and socket.getaddrinfo is not lookup
    netguard.deactivate()
    assert not netguard.is_active()
    assert socket.socket.connect is connect and socket.getaddrinfo is lookup and "connect" not in vars(socket.socket)


def test_error_is_an_evalkit_error_and_survives_pickling():
    error = NetworkDisabledError("192.0.2.1:80")
    assert isinstance(error, EvalkitError) and isinstance(error, ConnectionRefusedError)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.target == "192.0.2.1:80" and str(copy) == str(error) and str(error).startswith(MESSAGE)


def test_kernel_environment_puts_the_site_folder_first(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/opt/extra", str(netguard.SITE_FOLDER)]))
    env = kernel_environment()
    assert env == {"PYTHONPATH": os.pathsep.join([str(netguard.SITE_FOLDER), "/opt/extra"]),
                   "EVALKIT_NO_NETWORK": "1"}
    assert (netguard.SITE_FOLDER / "sitecustomize.py").is_file()


@pytest.mark.parametrize("on", [True, False])
def test_a_new_python_process_is_guarded_when_the_variable_is_set(tmp_path, on):
    env = {**os.environ, **kernel_environment(), "EVALKIT_NO_NETWORK": "1" if on else "0"}
    code = ("import socket\nfrom evalkit.pipeline import netguard\nprint(netguard.is_active())\n"
            "try:\n    socket.getaddrinfo('example.org', 80) if netguard.is_active() else None\n"
            "except ConnectionRefusedError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.splitlines()[0] == str(on)
    assert ("(tried example.org:80)" in done.stdout) is on


def guarded_kernel(monkeypatch) -> None:
    for name, value in kernel_environment().items():
        monkeypatch.setenv(name, value)


@pytest.mark.slow
def test_a_guarded_kernel_runs_cells_but_cannot_reach_the_network(tmp_path, monkeypatch):
    guarded_kernel(monkeypatch)
    template, output = tmp_path / "net.ipynb", tmp_path / "out" / "net.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        new_code_cell("from evalkit.pipeline import netguard\nprint(netguard.is_active(), x + 1)"),
        new_code_cell("import urllib.request\nurllib.request.urlopen('http://192.0.2.1/', timeout=5)"),
    ], metadata={"kernelspec": KERNELSPEC}), template)
    output.parent.mkdir()
    with no_network(), pytest.raises(PapermillExecutionError) as caught:
        papermill.execute_notebook(str(template), str(output), parameters={"x": 2}, cwd=str(tmp_path),
                                   kernel_name="python3", execution_timeout=60, start_timeout=60,
                                   progress_bar=False, log_output=False,
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])
    assert caught.value.ename == "URLError" and MESSAGE in caught.value.evalue
    nb = nbformat.read(output, as_version=4)
    printed = [o.text for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "stream"]
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert printed == ["True 3\n"]
    assert len(errors) == 1 and MESSAGE in errors[0].evalue
    assert any("NetworkDisabledError" in line for line in errors[0].traceback)


@pytest.mark.slow
def test_the_pack_builds_with_no_network(demo_project, tmp_path, monkeypatch):
    guarded_kernel(monkeypatch)
    # What evalkit.pipeline.batch.kernel_environment gives every kernel.
    for name, value in {"EVALKIT_ROOT": str(demo_project), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}.items():
        monkeypatch.setenv(name, value)
    template = tmp_path / "pack.ipynb"
    nb = nbformat.read(demo_project / "notebooks" / "pack.ipynb", as_version=4)
    nb.cells.append(new_code_cell("from evalkit.pipeline import netguard\n"
                                  "assert netguard.is_active(), 'the kernel ran without the network guard'"))
    nbformat.write(nb, template)
    output = tmp_path / "salford" / "care_homes.ipynb"
    with no_network():
        execute_notebook(template, output, {"locality": "salford", "stream": "care_homes",
                                            "project_root": str(demo_project)},
                         cwd=demo_project / "notebooks", timeout=300)
    executed = nbformat.read(output, as_version=4)
    assert not [o for cell in executed.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert all(cell.metadata.papermill.status == "completed" for cell in executed.cells
               if cell.cell_type == "code")
    assert "Synthetic demonstration data" in Path(output).read_text(encoding="utf-8")
