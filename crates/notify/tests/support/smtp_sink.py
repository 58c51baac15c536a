"""An aiosmtpd handler for notify's tests: a real SMTP server that keeps every message it
accepts as a file, and refuses some recipients the way real servers do.

    PYTHONPATH=crates/notify/tests/support \
        python3 -m aiosmtpd -n -l 127.0.0.1:2525 -c smtp_sink.Sink /tmp/inbox

- Each accepted message is written, exactly as received, to `<dir>/<n>.eml` (written aside and
  renamed, so a reader never sees half a file).
- A recipient whose local part starts with `refuse` gets `550` (permanent: no such user).
- A recipient whose local part starts with `busy` gets `451` (transient: try again later).
"""

import itertools
import os


class Sink:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.counter = itertools.count(1)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink takes one argument: the directory to write messages to")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("refuse"):
            return "550 5.1.1 <%s>: no such user here" % address
        if local.startswith("busy"):
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        final = os.path.join(self.directory, "%d-%06d.eml" % (os.getpid(), n))
        partial = final + ".part"
        with open(partial, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(partial, final)
        return "250 OK: queued as %06d" % n
