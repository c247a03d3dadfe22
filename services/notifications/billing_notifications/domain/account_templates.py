"""Templates of the invoice, wallet, sync and integration notifications (no I/O)."""
from __future__ import annotations

from datetime import timedelta

from billing_shared.events.invoices import InvoiceSnapshot
from billing_shared.events.payments import InvoiceOverAppliedData, PaymentMethodData
from billing_shared.events.portal import InvitationData
from billing_shared.events.reconciliation import ReconciliationCompletedData
from billing_shared.events.sync import ConnectionFailedData, SyncFailedData, SyncRecordFailedData, SyncStalledData

from .parts import INTEGRATIONS, Context, Parts, amount, method_label, when
from .webhooks import SubscriptionDisabled
from .reminders import PastDue


def invoice_available(invoice: InvoiceSnapshot, ctx: Context) -> Parts:
    total = amount(invoice.total, invoice.currency)
    due = f", due on {invoice.due_on.isoformat()}" if invoice.due_on else ""
    return Parts(
        subject=f"Invoice {invoice.invoice_number} from your IT provider is ready to pay",
        intro=[f"Invoice {invoice.invoice_number} for {total} is ready.",
               "You can pay it in the client portal by card or eCheck."],
        title=f"Invoice {invoice.invoice_number} for {ctx.who} is payable: {total}",
        summary=f"Invoice {invoice.invoice_number} of {ctx.who} is numbered and payable.",
        facts=[("Organization", ctx.who), ("Invoice", invoice.invoice_number or ""), ("Amount", total),
               ("Issued on", invoice.issued_on.isoformat() + due)],
    )



def invoice_past_due(due: PastDue, ctx: Context) -> Parts:
    balance = amount(due.balance, due.currency)
    days = f"{due.days_past_due} day{'s' if due.days_past_due != 1 else ''}"
    return Parts(
        subject=f"Reminder: invoice {due.invoice_number} is {days} past due",
        intro=[f"Invoice {due.invoice_number} was due on {due.due_on.isoformat()} and {balance} is still open.",
               "You can pay it in the client portal by card or eCheck. If you have paid it already, thank you:"
               " please ignore this reminder."],
        title=f"Invoice {due.invoice_number} of {ctx.who} is {days} past due: {balance} open",
        summary=f"Invoice {due.invoice_number} of {ctx.who} is past due; the client was reminded.",
        facts=[("Organization", ctx.who), ("Invoice", due.invoice_number), ("Balance due", balance),
               ("Due on", due.due_on.isoformat()), ("Days past due", str(due.days_past_due))],
    )

def payment_method_added(m: PaymentMethodData, ctx: Context) -> Parts:
    what = method_label(m.type, m.brand, m.last4)
    facts = [("Organization", ctx.who), ("Payment method", what)]
    if m.exp_month and m.exp_year:
        facts.append(("Expires", f"{m.exp_month:02d}/{m.exp_year}"))
    return Parts(
        subject=f"A payment method was added to your account: {what}",
        intro=[f"A {what} was saved to your account's wallet.",
               "If you did not add it, please contact us."],
        title=f"Payment method added for {ctx.who}: {what}",
        summary=f"{ctx.who} saved a {what} to its wallet.",
        facts=facts,
    )


# A skipped record's entity, as staff call it.
RECORD_KINDS = {"numbering": "invoice"}


def sync_failed(d: SyncFailedData | SyncRecordFailedData, ctx: Context) -> Parts:
    name = INTEGRATIONS.get(d.integration, d.integration)
    if isinstance(d, SyncRecordFailedData):
        record = f"{RECORD_KINDS.get(d.entity, d.entity)} {d.record_id}"
        return Parts(
            subject=f"{name} sync skipped {record}: {d.reason}",
            intro=[f"A sync run could not sync {record} and went on with the others: {d.reason}.",
                   "The next run tries it again."],
            title=f"{name} sync skipped {record}: {d.reason}",
            summary=f"A sync run could not sync {record}: {d.reason}.",
            facts=[("Integration", name), ("Run", d.run_id), ("Record", record), ("Reason", d.reason)],
        )
    return Parts(
        subject=f"{name} sync failed: {d.reason}",
        intro=[f"A {name} sync run failed: {d.reason}."],
        title=f"{name} sync failed: {d.reason}",
        summary=f"A {name} sync run failed: {d.reason}.",
        facts=[("Integration", name), ("Run", d.run_id), ("Reason", d.reason)],
    )


def sync_stalled(d: SyncStalledData, ctx: Context) -> Parts:
    name = INTEGRATIONS.get(d.integration, d.integration)
    since = when(d.last_completed_at)
    return Parts(
        subject=f"{name} sync has stalled: no completed run since {since}",
        intro=[f"No {name} sync run has completed for more than twice its interval "
               f"({d.interval_minutes} minutes). Invoices and payments may be out of date."],
        title=f"{name} sync stalled: no completed run since {since}",
        summary=f"No {name} sync run has completed for more than twice its interval.",
        facts=[("Integration", name), ("Last completed run", since),
               ("Interval", f"{d.interval_minutes} minutes")],
    )


def connection_failed(d: ConnectionFailedData, ctx: Context) -> Parts:
    name = INTEGRATIONS.get(d.integration, d.integration)
    return Parts(
        subject=f"Cannot connect to {name}: {d.reason}",
        intro=[f"The billing link could not connect to {name}: {d.reason}.",
               "Check the integration's credentials and that the service is reachable."],
        title=f"Cannot connect to {name}: {d.reason}",
        summary=f"The billing link could not connect to {name}: {d.reason}.",
        facts=[("Integration", name), ("Reason", d.reason)],
    )


def invoice_over_applied(i: InvoiceOverAppliedData, ctx: Context) -> Parts:
    """For staff: accounting lowered an invoice's total below what our payments apply to it."""
    invoice = ctx.invoice(i.invoice_id)
    over = amount(i.over_by, i.currency)
    return Parts(
        subject=f"Overpaid: {invoice} of {ctx.who} now totals less than its payments",
        intro=[f"The total of {invoice} was lowered to {amount(i.total, i.currency)}, but payments apply "
               f"{amount(i.applied, i.currency)} to it: {over} too much.",
               "It shows a balance of 0.00 and cannot be paid. Unapply or refund the difference."],
        title=f"{invoice} of {ctx.who} is overpaid by {over}",
        summary=f"The total of {invoice} of {ctx.who} is below the payments applied to it, by {over}. "
                "Unapply or refund the difference.",
        facts=[("Organization", ctx.who), ("Invoice", invoice), ("Total now", amount(i.total, i.currency)),
               ("Applied", amount(i.applied, i.currency)), ("Over by", over)],
    )


def portal_invitation(invite: InvitationData, ctx: Context) -> Parts:
    expires = invite.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return Parts(
        subject="You are invited to view and pay your invoices online",
        intro=[f"You are invited to the client portal of your IT provider for {ctx.who}.",
               "Open this link to set your password (it works once, until it expires):", invite.link],
        title=f"Client portal invitation sent to {invite.email} ({ctx.who})",
        summary=f"{invite.invited_by} invited {invite.name} <{invite.email}> of {ctx.who} to the client portal.",
        facts=[("Organization", ctx.who), ("Link expires", expires)],
    )


def reconciliation_drift_found(r: ReconciliationCompletedData, ctx: Context) -> Parts:
    """For staff: the gateway, the ledger, accounting and the PSA disagree (or one could not be read)."""
    first, last = f"{r.period_start:%Y-%m-%d}", f"{(r.period_end - timedelta(seconds=1)):%Y-%m-%d}"
    period = first if first == last else f"{first} to {last}"
    found = f"{r.drift_count} disagreement{'s' if r.drift_count != 1 else ''}"
    unchecked = f" ({' and '.join(r.incomplete)} could not be checked)" if r.incomplete else ""
    codes = ", ".join(f"{code.replace('_', ' ')}: {n}" for code, n in sorted(r.by_code.items())) or "none"
    return Parts(
        subject=f"Reconciliation of {period}: {found}{unchecked}",
        intro=[f"Reconciling the gateway, the ledger, accounting and the PSA for {period} found {found}{unchecked}.",
               "Open Reconciliation in the portal to see each one with its evidence, repair it or explain it."],
        title=f"Reconciliation {period}: {found}{unchecked}",
        summary=f"The {r.trigger.replace('_', '-')} reconciliation of {period} found {found}{unchecked}. "
                "Each is listed with its evidence on the portal's Reconciliation page.",
        facts=[("Period", period), ("Disagreements", codes), ("Not checked", ", ".join(r.incomplete) or "none"),
               ("Run", r.run_id)],
    )


def webhook_subscription_disabled(d: SubscriptionDisabled, ctx: Context) -> Parts:
    """For staff: a receiver failed every delivery past the retry horizon, so its subscription stopped."""
    return Parts(
        subject=f"Webhook subscription disabled: {d.url[:120]}",
        intro=[f"Deliveries to {d.url} failed since {when(d.failing_since)}, so the subscription was disabled.",
               "Messages keep waiting: fix the receiver, then enable the subscription to send them in order."],
        title=f"Webhook subscription disabled: {d.url[:120]}",
        summary=f"Webhook deliveries to {d.url} failed since {when(d.failing_since)}; the subscription was "
                "disabled. Enable it once the receiver answers to send what waits.",
        facts=[("Subscription", d.subscription_id), ("URL", d.url), ("Reason", d.reason),
               ("Failing since", when(d.failing_since)), ("Oldest waiting message", f"{d.message_id} ({d.event_type})")],
    )
