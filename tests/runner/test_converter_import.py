import socket
import subprocess
import sys

from runner.converter_import import socket_timeout


def test_socket_timeout_applies_inside_and_restores_after():
    before = socket.getdefaulttimeout()
    with socket_timeout(0.25), socket.socket() as s:
        assert s.gettimeout() == 0.25
    assert socket.getdefaulttimeout() == before


def test_import_converter_bounds_the_import_time_download():
    """eopf-geozarr fetches the CF table at import: the runner's import sets the bound
    for that import and leaves no process-wide timeout behind."""
    code = (
        "import socket, urllib.request as u\n"
        "seen = []\n"
        "real = u.urlopen\n"
        "def spy(*a, **k):\n"
        "    seen.append(socket.getdefaulttimeout()); raise OSError('offline (test)')\n"
        "u.urlopen = spy\n"
        "from runner.converter_import import import_converter\n"
        "import_converter()\n"
        "print(seen, socket.getdefaulttimeout())\n"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                         env={"GEOZARR_IMPORT_NETWORK_TIMEOUT": "1.5", "PATH": "/usr/bin"}, check=True)
    assert out.stdout.strip() == "[1.5] None"
