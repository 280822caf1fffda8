"""A storage SCP (PS3.4 Annex B): receives C-STORE into the local store, in a background thread.

Two uses: the destination of our own C-MOVE requests (PS3.4 C.4.2), and sites that push studies
to their readers. Each object is written exactly as it arrived (``event.encoded_dataset()``: the
received data set behind a Part 10 header) into the store's temp folder and moved into place by
:meth:`LocalArchive.ingest_file`, so nothing is decoded and re-encoded on the way. An object is
acknowledged only once it is in the store and indexed: a success status means it is on disk.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydicom.uid import ExplicitVRBigEndian
from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from workstation.archive.dimse import LOSSLESS, LOSSY, UNCOMPRESSED
from workstation.archive.remote import RemoteError
from workstation.core.errors import InvalidDicomError, StoreError
from workstation.core.events import Event

if TYPE_CHECKING:
    from pynetdicom.transport import ThreadedAssociationServer

    from workstation.archive.local import LocalArchive
    from workstation.core.settings import ArchiveConfig

log = logging.getLogger(__name__)

# Transfer syntaxes accepted for every storage SOP class: the uncompressed ones first (PS3.5
# A.1-A.3), then the lossless and lossy compressed ones (PS3.5 A.4) so that a compressed object
# is received and kept as the sender stored it.
ACCEPTED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    *UNCOMPRESSED,
    ExplicitVRBigEndian,
    *LOSSLESS,
    *LOSSY,
)

# C-STORE response statuses (PS3.4 Table B.2-1).
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_PROCESSING_FAILURE = 0x0110


@dataclass(frozen=True, slots=True)
class ReceivedInstance:
    """One object a peer stored with us, as the ``received`` event reports it.

    ``stored`` is False for an object whose SOP Instance UID was already in the store: it is
    acknowledged and the stored copy kept.
    """

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    calling_ae_title: str
    size_bytes: int
    stored: bool


@dataclass(slots=True)
class ScpStatistics:
    """Counts since start: objects stored, duplicates, rejections with their reasons."""

    stored: int = 0
    duplicates: int = 0
    bytes_stored: int = 0
    connections: int = 0  # TCP connections accepted
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (calling AE, reason)
    first_at: float | None = None  # perf_counter of the first object, for a receive rate
    last_at: float | None = None

    @property
    def seconds(self) -> float:
        if self.first_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.first_at


class StorageScp:
    """A C-STORE SCP for every storage SOP class (PS3.4 B.5) writing into a :class:`LocalArchive`.

    ``port=0`` takes a free port (read it back from :attr:`port` after :meth:`start`). With
    ``require_called_aet`` an association must call our AE title (PS3.8 7.1.1.1);
    ``allowed_calling_aets`` limits who may store with us. ``on_received`` (or
    ``received.connect``) is called from the receiving thread for each object: a UI hands it on
    to its own thread.
    """

    def __init__(
        self,
        archive: LocalArchive,
        ae_title: str,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        on_received: Callable[[ReceivedInstance], None] | None = None,
        allowed_calling_aets: Collection[str] | None = None,
        require_called_aet: bool = True,
        transfer_syntaxes: Sequence[str] = ACCEPTED_TRANSFER_SYNTAXES,
        max_associations: int = 10,
    ) -> None:
        title = ae_title.strip()
        if not title or len(title) > 16 or not title.isascii() or "\\" in title:
            raise ValueError(
                f"AE title {ae_title!r} must be 1 to 16 ASCII characters without '\\' (PS3.5 6.2)"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not a TCP port (0 to 65535; 0 picks a free one)")
        self.archive = archive
        self.ae_title = title
        self.host = host
        self._requested_port = port
        self._bound_port = 0
        self.allowed_calling_aets = (
            tuple(a.strip() for a in allowed_calling_aets) if allowed_calling_aets else ()
        )
        self.require_called_aet = require_called_aet
        self.transfer_syntaxes = tuple(transfer_syntaxes)
        self.max_associations = max_associations
        self.received = Event("received")
        if on_received is not None:
            self.received.connect(on_received)
        self.stats = ScpStatistics()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._open_connections = 0
        self._storing = 0  # C-STORE handlers running now
        self._ae: AE | None = None
        self._server: ThreadedAssociationServer | None = None

    # -- life cycle ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port we listen on (the one picked when constructed with ``port=0``)."""
        return self._bound_port or self._requested_port

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> StorageScp:
        """Listen in a background thread; raises StoreError when the port cannot be bound."""
        if self._server is not None:
            return self
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = self.max_associations
        ae.require_called_aet = self.require_called_aet
        if self.allowed_calling_aets:
            ae.require_calling_aet = list(self.allowed_calling_aets)
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax:
                ae.add_supported_context(cx.abstract_syntax, list(self.transfer_syntaxes))
        ae.add_supported_context(Verification, list(UNCOMPRESSED))
        handlers: list[Any] = [
            (evt.EVT_CONN_OPEN, self._on_connection),
            (evt.EVT_CONN_CLOSE, self._on_close),
            (evt.EVT_C_STORE, self._on_c_store),
        ]
        try:
            server = ae.start_server(
                (self.host, self._requested_port), block=False, evt_handlers=handlers
            )
        except OSError as exc:
            raise StoreError(
                f"cannot listen for DICOM on {self.host}:{self._requested_port}: {exc.strerror}; "
                "is another program using that port?"
            ) from None
        assert server is not None
        self._ae, self._server = ae, server
        self._bound_port = int(server.server_address[1])
        log.info("storage SCP %s listening on %s:%d", self.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop listening and abort associations still open; objects already acked stay stored."""
        ae, self._ae, self._server = self._ae, None, None
        if ae is not None:
            ae.shutdown()
            log.info(
                "storage SCP %s stopped: %d stored, %d duplicates, %d rejected",
                self.ae_title,
                self.stats.stored,
                self.stats.duplicates,
                len(self.stats.rejected),
            )

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until no peer is connected and no object is being stored; False on timeout.

        A C-MOVE's final response can come while the archive's last sub-association is still
        closing (an outage cuts both at once): wait here before judging what arrived.
        """
        with self._idle:
            return self._idle.wait_for(
                lambda: self._open_connections == 0 and self._storing == 0, timeout_s
            )

    def __enter__(self) -> StorageScp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handlers (run on the association's thread) ------------------------------------------
    def _on_connection(self, event: Any) -> None:
        # Without TCP_NODELAY our small C-STORE responses wait on Nagle and the peer's delayed
        # ACK: about 40 ms per object (STACK.md).
        with contextlib.suppress(AttributeError, OSError):
            sock = event.assoc.dul.socket.socket
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.stats.connections += 1
            self._open_connections += 1

    def _on_close(self, _event: Any) -> None:
        with self._idle:
            self._open_connections = max(self._open_connections - 1, 0)
            self._idle.notify_all()

    def _on_c_store(self, event: Any) -> int:
        with self._lock:
            self._storing += 1
        try:
            return self._store(event)
        finally:
            with self._idle:
                self._storing -= 1
                self._idle.notify_all()

    def _store(self, event: Any) -> int:
        calling = str(getattr(event.assoc.requestor, "ae_title", "") or "").strip()
        sop_class = str(getattr(event.request, "AffectedSOPClassUID", "") or "")
        try:
            # As received, behind a Part 10 header: stored without a decode.
            data = event.encoded_dataset()
            stored = self.archive.ingest_bytes(data, "scp")
            self.archive.commit()  # this association's thread owns its index connection
            study, series, sop, ts = self._identity_of(event)
        except InvalidDicomError as exc:
            return self._reject(calling, str(exc), STATUS_CANNOT_UNDERSTAND)
        except StoreError as exc:
            return self._reject(calling, str(exc), STATUS_OUT_OF_RESOURCES)
        except OSError as exc:
            reason = f"cannot write into the local store: {exc.strerror}"
            return self._reject(calling, reason, STATUS_OUT_OF_RESOURCES)
        except Exception as exc:  # a handler must answer; pynetdicom would abort the association
            log.warning("storage SCP: unexpected %s storing one object", type(exc).__name__)
            return self._reject(calling, type(exc).__name__, STATUS_PROCESSING_FAILURE)
        now = time.perf_counter()
        with self._lock:
            st = self.stats
            if stored:
                st.stored += 1
                st.bytes_stored += len(data)
            else:
                st.duplicates += 1
            st.first_at = st.first_at if st.first_at is not None else now
            st.last_at = now
        item = ReceivedInstance(
            study_instance_uid=study,
            series_instance_uid=series,
            sop_instance_uid=sop,
            sop_class_uid=sop_class,
            transfer_syntax_uid=ts,
            calling_ae_title=calling,
            size_bytes=len(data),
            stored=stored,
        )
        try:
            self.received.emit(item)
        except Exception as exc:  # a listener's bug must not refuse an object we stored
            log.warning("storage SCP: a received-listener raised %s", type(exc).__name__)
        return STATUS_SUCCESS

    def _identity_of(self, event: Any) -> tuple[str, str, str, str]:
        """(study, series, SOP Instance UID, transfer syntax) of a just stored object.

        Looked up in the index by the request's Affected SOP Instance UID, which PS3.7 9.1.1.1
        says equals the data set's; a peer that breaks that rule costs a decode of the data set.
        """
        sql = (
            "SELECT r.study_instance_uid, r.series_instance_uid, i.sop_instance_uid, "
            "i.transfer_syntax_uid FROM instances i JOIN series r USING (series_instance_uid) "
            "WHERE i.sop_instance_uid=?"
        )
        conn = self.archive.index.connection()
        sop = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        row = conn.execute(sql, (sop,)).fetchone()
        if row is None:
            sop = str(event.dataset.get("SOPInstanceUID", "") or "")
            row = conn.execute(sql, (sop,)).fetchone()
        if row is None:
            raise StoreError("an object was stored but is missing from the index")
        return str(row[0]), str(row[1]), str(row[2]), str(row[3])

    def _reject(self, calling: str, reason: str, status: int) -> int:
        with self._lock:
            self.stats.rejected.append((calling, reason))
        log.warning("storage SCP refused one object from %s (status %#06x)", calling, status)
        return status


# -- C-MOVE into our own SCP ----------------------------------------------------------------------


@contextlib.contextmanager
def receiving(
    archive: LocalArchive,
    config: ArchiveConfig,
    port: int,
    host: str = "0.0.0.0",
    on_received: Callable[[ReceivedInstance], None] | None = None,
) -> Iterator[StorageScp]:
    """Our storage SCP, for the duration of a C-MOVE, under the AE title the archive moves to.

    The title is ``[dimse] our_ae_title``; the archive must list it with this host's address
    and ``port`` (Orthanc: ``DicomModalities``), or its C-MOVE fails (PS3.4 C.4.2.1.4.2).
    """
    if config.dimse is None:
        raise RemoteError(f"archive {config.name!r} has no [dimse] settings")
    scp = StorageScp(archive, config.dimse.our_ae_title, port, host, on_received=on_received)
    with scp:
        try:
            yield scp
        finally:
            scp.wait_idle(5.0)  # let an object still in flight land before we stop listening
