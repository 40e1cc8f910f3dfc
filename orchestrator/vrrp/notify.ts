/** The states keepalived reports for a vrrp_instance (INIT: lbguard has heard nothing yet). */
export const VRRP_STATES = ['INIT', 'MASTER', 'BACKUP', 'FAULT', 'STOP'] as const;
export type VrrpState = (typeof VRRP_STATES)[number];

export interface NotifyEvent {
  readonly instance: string;
  readonly state: VrrpState;
  readonly priority: number;
}

/**
 * One line keepalived writes to its vrrp_notify_fifo: `INSTANCE "lbguard" MASTER 150`. GROUP
 * lines (sync groups), states lbguard does not act on (keepalived 2.x also reports DELETED and
 * MASTER_RX_LOWER_PRI) and anything malformed give undefined.
 */
export function parseNotifyLine(line: string): NotifyEvent | undefined {
  const match = /^INSTANCE "([^"]{1,64})" ([A-Z_]+) (\d{1,3})$/.exec(line.trim());
  if (!match) return undefined;
  const state = match[2] as VrrpState;
  if (!VRRP_STATES.includes(state) || state === 'INIT') return undefined;
  return { instance: match[1]!, state, priority: Number(match[3]) };
}
