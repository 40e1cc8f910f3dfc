/** One user of a FairShare (a farm): what it holds now. */
export interface ShareHolder {
  used: number;
}

/**
 * A capacity (sessions, descriptors) shared by farms so that a flood on one cannot starve the
 * others: each member is guaranteed an equal share (capacity / members), and beyond it may borrow
 * what is free only while enough stays free for every other member's unused share. A member takes
 * and gives back units; a member that left is still counted until it gives back what it holds.
 */
export class FairShare {
  used = 0;
  refused = 0;
  /** the members' unused guaranteed shares, together: what borrowers must leave free */
  private owed = 0;
  private readonly members = new Set<ShareHolder>();

  constructor(private cap: number) {}

  get capacity(): number {
    return this.cap;
  }

  set capacity(value: number) {
    this.cap = Math.max(0, Math.floor(value));
    this.recount();
  }

  /** what each member is sure to get */
  get share(): number {
    return this.members.size > 1 ? Math.floor(this.cap / this.members.size) : this.cap;
  }

  join(): ShareHolder {
    const member = { used: 0 };
    this.members.add(member);
    this.recount();
    return member;
  }

  leave(member: ShareHolder): void {
    if (this.members.delete(member)) this.recount();
  }

  /** Takes `units` for `member` if that leaves the other members their shares; false (counted) otherwise. */
  take(member: ShareHolder, units: number): boolean {
    const free = this.cap - this.used;
    const mine = this.members.has(member) ? Math.max(0, this.share - member.used) : 0;
    const fromMine = Math.min(units, mine);
    // within its share a member always gets what is free (the capacity may have shrunk under borrowers)
    if (units > free || (units > mine && free - units < this.owed - fromMine)) {
      this.refused++;
      return false;
    }
    this.owed -= fromMine;
    member.used += units;
    this.used += units;
    return true;
  }

  give(member: ShareHolder, units: number): void {
    const listed = this.members.has(member);
    const before = listed ? Math.max(0, this.share - member.used) : 0;
    member.used -= units;
    this.used -= units;
    if (listed) this.owed += Math.max(0, this.share - member.used) - before;
  }

  private recount(): void {
    const share = this.share;
    this.owed = 0;
    for (const member of this.members) this.owed += Math.max(0, share - member.used);
  }
}
