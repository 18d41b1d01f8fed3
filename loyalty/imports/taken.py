"""What members hold already, for the member import: their numbers, and (roughly) their
phones (Taken); the writer (writer.py) asks it before each chunk."""

from members.models import Member
from members.numbers import BODIES, FIRST_BODY, body_of, member_numbers

from . import sql


class Taken:
    """What members hold already: their numbers, and (roughly) their phones.

    Numbers: a bitmap of every possible number (9 x 10^7 bodies: 11 MB), so that new
    ones (members.numbers.member_numbers, as member_create's) are drawn at random
    without asking the database about each (asking for each
    chunk's 2,000 numbers cost a tenth of a PostgreSQL import). Phones: a 16 MB
    bitmap of 27 bits of each phone hash, so that a chunk asks the database only
    about phones that may be members (on a first import: about the odd false
    positive, 0.75 % of rows at a million members, instead of every row; probing
    the unique index for every phone took a sixth of a million-row PostgreSQL import).

    Both are filled from the members table once, then, before each chunk, from the
    members added since by others (registrations meanwhile), read by primary key;
    this import's own rows are marked as they are written and not read back. That
    can miss a registration: one that commits between the read and the chunk's
    INSERT, or (PostgreSQL) one whose id was taken before the last read and committed
    after it, and a phone changed by an edit. The unique indexes catch each: the chunk
    fails with IntegrityError and the runner writes it again, then with new numbers
    and asking the database about every phone (MemberWriter.write's `retry`).
    """

    PAGE = 50_000
    PHONE_BITS = 27

    def __init__(self):
        self.numbers = bytearray(BODIES // 8 + 1)
        self.phones = bytearray((1 << self.PHONE_BITS) // 8)
        self.seen = 0  # the highest member id read (or of our own, skipped)
        self.pending = None  # (ids, phone hashes) of the chunk being written
        self.own: list[tuple[int, int]] = []  # id runs (first, last) we wrote, above seen

    def _mark(self, body: int) -> bool:
        """Mark a number's body taken; False when it was already."""
        byte, bit = divmod(body - FIRST_BODY, 8)
        if self.numbers[byte] >> bit & 1:
            return False
        self.numbers[byte] |= 1 << bit
        return True

    def _phone_slot(self, phone_hash: str) -> tuple[int, int]:
        # The hash is HMAC-SHA256 in hex: any 7 of its digits are uniform.
        return divmod(int(phone_hash[:7], 16) >> (28 - self.PHONE_BITS), 8)

    def may_be_member(self, phone_hash: str) -> bool:
        """False: no member read so far has this phone; True: one may have."""
        byte, bit = self._phone_slot(phone_hash)
        return bool(self.phones[byte] >> bit & 1)

    def _mark_phone(self, phone_hash: str) -> None:
        byte, bit = self._phone_slot(phone_hash)
        self.phones[byte] |= 1 << bit

    def written(self, ids: list[int], phone_hashes: list[str]) -> None:
        """This chunk inserted these members (numbers drawn here are marked already)."""
        self.pending = (ids, phone_hashes)

    def committed(self) -> None:
        """The chunk written last is in: its members count, and are not read back."""
        if self.pending is None:
            return
        ids, phone_hashes = self.pending
        self.pending = None
        for phone_hash in phone_hashes:
            self._mark_phone(phone_hash)
        for pk in sorted(ids):  # runs of consecutive ids (others may take ids between)
            if self.own and self.own[-1][1] == pk - 1:
                self.own[-1] = (self.own[-1][0], pk)
            else:
                self.own.append((pk, pk))

    def rolled_back(self) -> None:
        self.pending = None

    def refresh(self) -> None:
        """Read the members added since the last read, but for our own committed rows."""
        gaps = []
        top = self.seen  # the highest id known: read, or one of our own
        for first, last in self.own:
            if first > top + 1:
                gaps.append((top, first))
            top = max(top, last)
        gaps.append((top, None))
        self.own = []
        for after, before in gaps:
            self._read(after, before)
        self.seen = max(self.seen, top)

    def _read(self, after: int, before: int | None) -> None:
        columns = ["member_no", "phone_hash"]
        while rows := sql.rows_after(Member, columns, after, self.PAGE, before):
            for _pk, number, phone_hash in rows:
                body = body_of(number)
                if body is not None:
                    self._mark(body)
                if phone_hash:  # an erased member has none
                    self._mark_phone(phone_hash)
            after = rows[-1][0]
            self.seen = max(self.seen, after)
            if len(rows) < self.PAGE:
                break

    def draw(self, count: int) -> list[str]:
        """`count` free member numbers (call refresh() first)."""
        numbers = []
        while len(numbers) < count:
            for number in member_numbers(count - len(numbers)):
                if self._mark(body_of(number)):
                    numbers.append(number)
        return numbers
