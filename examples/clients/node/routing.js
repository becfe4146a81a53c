'use strict';
/**
 * Order routing: every paid, uncancelled GHL order goes to exactly one Rankr provider whose service
 * area covers the address typed on the order form (the order's `contactSnapshot`), that is available
 * now and has capacity left today. On a 409 (full, or switched off since we listed) the next provider is
 * tried; when nobody fits, one `warning` alert names the order. `provider.unavailable` moves that
 * provider's orders; a cancelled order's assignment is deleted. Nothing happens while the Rankr account
 * has no providers.
 *
 * Rankr API: `GET /v1/providers`, `GET /v1/assignments`, `GET|PUT|DELETE /v1/assignments/{orderId}`.
 */

const { Unavailable, Refused } = require('./common');

const PROVIDER_EVENTS = new Set(['provider.unavailable', 'provider.available']);

// ---- small pure helpers (exported for the unit tests) -------------------------------------------

const norm = (value) => String(value ?? '').replace(/\s+/g, '').toUpperCase();

/** The order's address as routing compares it: `postal_code` (order detail) or `postalCode` (webhook). */
function routingAddress(snapshot) {
  const snap = snapshot && typeof snapshot === 'object' ? snapshot : {};
  return { country: norm(snap.country), state: norm(snap.state), postalCode: norm(snap.postal_code ?? snap.postalCode) };
}

/** Country equal; state equal when the area names one; the postal code starts with a prefix when it lists any. */
function areaCovers(area, address) {
  if (!area || typeof area !== 'object' || !address.country) return false;
  if (norm(area.country) !== address.country) return false;
  if (area.state && norm(area.state) !== address.state) return false;
  const prefixes = (Array.isArray(area.postalCodePrefixes) ? area.postalCodePrefixes : []).map(norm).filter(Boolean);
  return prefixes.length === 0 || prefixes.some((p) => address.postalCode.startsWith(p));
}

function providerCovers(provider, address) {
  return (Array.isArray(provider.serviceAreas) ? provider.serviceAreas : []).some((a) => areaCovers(a, address));
}

/** Switched on, inside an availability window now, capacity left today (as Rankr reports it). */
function takesOrders(provider) {
  return provider.available !== false && provider.availableNow !== false && Number(provider.remainingToday) > 0;
}

// ---- the routing -------------------------------------------------------------------------------

class Routing {
  /** `svc`: the SyncService (its rankr(), getOrder(), alert(), state and log). */
  constructor(svc) {
    this.svc = svc;
    this.lock = Promise.resolve(); // one routing decision at a time: capacity is read, then taken
  }

  /** Run `fn` alone (a promise chain as a mutex). */
  exclusive(fn) {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  async providers(deadline, attempts = 4) {
    try {
      const answer = await this.svc.rankr('GET', '/v1/providers', undefined, { deadline, attempts });
      return (Array.isArray(answer?.data) ? answer.data : []).filter((p) => p && p.providerId);
    } catch (err) {
      if (err instanceof Refused && err.status === 404) return []; // a Rankr without providers: no routing
      throw err;
    }
  }

  async assignments(deadline) {
    const answer = await this.svc.rankr('GET', '/v1/assignments', undefined, { deadline });
    const out = new Map();
    for (const a of Array.isArray(answer?.data) ? answer.data : []) if (a && a.orderId) out.set(String(a.orderId), a);
    return out;
  }

  async assignmentOf(orderId, deadline) {
    try {
      return await this.svc.rankr('GET', `/v1/assignments/${encodeURIComponent(orderId)}`, undefined, { deadline });
    } catch (err) {
      if (err instanceof Refused && err.status === 404) return null;
      throw err;
    }
  }

  async unassign(orderId, deadline) {
    try {
      await this.svc.rankr('DELETE', `/v1/assignments/${encodeURIComponent(orderId)}`, undefined, { deadline });
    } catch (err) {
      if (!(err instanceof Refused && err.status === 404)) throw err;
    }
  }

  /** The order-form address, kept durably (it never changes); list items carry none: fetch the order. */
  async address(orderId, order, deadline) {
    const known = this.svc.state.get('routeAddress', orderId);
    if (known) return known;
    const detail = order && order.contactSnapshot ? order : await this.svc.getOrder(orderId, deadline);
    const address = routingAddress(detail?.contactSnapshot);
    this.svc.state.put('routeAddress', orderId, address);
    return address;
  }

  static candidates(providers, address) {
    return providers.filter((p) => providerCovers(p, address) && takesOrders(p));
  }

  static wellPlaced(assignment, providers, address) {
    if (!assignment) return false;
    const provider = providers.find((p) => p.providerId === assignment.providerId);
    return Boolean(provider) && provider.available !== false && providerCovers(provider, address);
  }

  /** First eligible provider that Rankr accepts; none: one warning alert. Call inside exclusive(). */
  async route(orderId, address, providers, deadline) {
    for (const provider of Routing.candidates(providers, address)) {
      try {
        await this.svc.rankr('PUT', `/v1/assignments/${encodeURIComponent(orderId)}`,
          { providerId: provider.providerId }, { deadline });
      } catch (err) {
        if (!(err instanceof Refused && (err.status === 409 || err.status === 404))) throw err;
        this.svc.log('info', `order ${orderId}: provider ${provider.providerId} refused: ${err.message}`);
        provider.remainingToday = 0; // our list was stale: not for this order's successors either
        continue;
      }
      provider.remainingToday = Number(provider.remainingToday) - 1;
      if (this.svc.state.get('routeAlerted', orderId)) this.svc.state.delete('routeAlerted', orderId);
      this.svc.log('info', `order ${orderId} routed to provider ${provider.providerId}`);
      return provider.providerId;
    }
    if (!this.svc.state.get('routeAlerted', orderId)) {
      const where = [address.state, address.postalCode, address.country].filter(Boolean).join(' ') || 'no address';
      await this.svc.alert('warning', `routing: no eligible provider for order ${orderId} (${where}): no provider `
        + 'covering the address is available with capacity left today', `routing-none-${orderId}`, orderId, deadline);
      this.svc.state.put('routeAlerted', orderId, true);
    }
    return '';
  }

  /** After an order webhook (best effort: reconciliation repairs what fails here). */
  async afterSync(order, deadline) {
    const orderId = String(order?._id || '');
    const cancelled = order?.status === 'cancelled';
    if (!orderId || !(cancelled || order.paymentStatus === 'paid')) return;
    try {
      const providers = await this.providers(deadline, 2);
      if (!providers.length) return;
      await this.exclusive(async () => {
        if (cancelled) return this.unassign(orderId, deadline);
        const address = await this.address(orderId, order, deadline);
        if (!Routing.wellPlaced(await this.assignmentOf(orderId, deadline), providers, address)) {
          await this.route(orderId, address, providers, deadline);
        }
        return undefined;
      });
    } catch (err) {
      if (!(err instanceof Unavailable || err instanceof Refused)) throw err;
      this.svc.log('warn', `routing of order ${orderId} failed: ${err.message}`);
    }
  }

  /** Reconciliation: every paid, uncancelled order well placed; no assignment for a cancelled one. */
  async reconcile(orders) {
    let providers;
    try {
      providers = await this.providers(undefined, 1);
    } catch (err) {
      if (!(err instanceof Unavailable || err instanceof Refused)) throw err;
      this.svc.log('warn', `routing: cannot list providers: ${err.message}`);
      return 0;
    }
    if (!providers.length) return 0;
    const assignments = await this.assignments();
    return this.exclusive(async () => {
      let changed = 0;
      for (const order of orders) {
        const orderId = String(order._id || '');
        if (order.status === 'cancelled') {
          if (assignments.has(orderId)) {
            await this.unassign(orderId);
            changed += 1;
          }
          continue;
        }
        if (order.paymentStatus !== 'paid') continue;
        const address = await this.address(orderId, null);
        if (Routing.wellPlaced(assignments.get(orderId), providers, address)) continue;
        if (await this.route(orderId, address, providers)) changed += 1;
      }
      return changed;
    });
  }

  /** `provider.unavailable`: move its orders; `provider.available`: the next reconciliation routes what waits. */
  async handleEvent(event, deadline) {
    const providerId = String(event.providerId || '');
    if (!providerId) return 400;
    if (event.eventType !== 'provider.unavailable') return 200;
    try {
      const providers = await this.providers(deadline);
      for (const p of providers) if (p.providerId === providerId) p.available = false; // the event says so
      await this.exclusive(async () => {
        for (const [orderId, assignment] of await this.assignments(deadline)) {
          if (assignment.providerId !== providerId) continue;
          await this.route(orderId, await this.address(orderId, null, deadline), providers, deadline);
        }
      });
    } catch (err) {
      if (!(err instanceof Unavailable || err instanceof Refused)) throw err;
      this.svc.log('warn', `${event.eventType} ${providerId}: orders not moved: ${err.message}`);
      return 503;
    }
    return 200;
  }
}

module.exports = { Routing, PROVIDER_EVENTS, routingAddress, areaCovers, providerCovers, takesOrders };
