// The e-mail delivery log (notification): what was sent to whom, and what failed.
import { useEffect, useState } from "preact/hooks";
import { useApp } from "../context";
import { Badge, Empty, ErrorBanner, Loading, PageHeader, Pager, useAsync, usePager } from "../ui";
import { capitalise, deliveryStatusLabel, deliveryStatusTone, formatDateTime } from "../lib/format";

export function templateLabel(template: string): string {
  return capitalise(template.replace(/[._-]+/g, " "));
}

export function DeliveriesPage() {
  const { api } = useApp();
  const [recipient, setRecipient] = useState("");
  const [applied, setApplied] = useState("");
  const pager = usePager();
  useEffect(() => pager.reset(), [applied]);
  const list = useAsync(() => api.notification.listDeliveries({ recipient: applied, page: { pageSize: 25, pageToken: pager.token } }), [applied, pager.token]);
  return (
    <div class="stack">
      <PageHeader title="E-mail log" subtitle="Every e-mail the practice sent: invitations, reminders, certifications, offboardings and password resets." />
      <form
        class="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(recipient.trim());
        }}
      >
        <input type="search" aria-label="Recipient e-mail" placeholder="Only to this e-mail address" value={recipient} onInput={(e) => setRecipient(e.currentTarget.value)} />
        <button class="btn btn-secondary" type="submit">
          Filter
        </button>
      </form>
      <ErrorBanner error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && !list.data.deliveries.length ? <Empty>No e-mails.</Empty> : null}
      {list.data && list.data.deliveries.length ? (
        <table class="table" aria-label="E-mail deliveries">
          <thead>
            <tr>
              <th>Created</th>
              <th>To</th>
              <th>Subject</th>
              <th>Kind</th>
              <th>Status</th>
              <th>Sent</th>
            </tr>
          </thead>
          <tbody>
            {list.data.deliveries.map((d) => (
              <tr key={d.id}>
                <td class="nowrap">{formatDateTime(d.createdAt)}</td>
                <td>{d.recipient}</td>
                <td>{d.subject}</td>
                <td>{templateLabel(d.template)}</td>
                <td>
                  <Badge tone={deliveryStatusTone(d.status)}>{deliveryStatusLabel(d.status)}</Badge>
                  {d.attempts > 1 ? <div class="muted small">{d.attempts} attempts</div> : null}
                  {d.lastError ? <div class="field-error small">{d.lastError}</div> : null}
                </td>
                <td class="nowrap">{formatDateTime(d.sentAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <Pager pager={pager} nextToken={list.data?.nextPageToken} count={list.data?.deliveries.length ?? 0} />
    </div>
  );
}
