// The signed-in member's own certification (the e-mail's /certification link).
import { CertificationStatus } from "../gen/staff/v1/staff_pb";
import { useApp, useSignedIn } from "../context";
import { Badge, Button, ErrorBanner, Loading, PageHeader, downloadBlob, useAction, useAsync } from "../ui";
import { certificationLabel, certificationTone, formatDate, formatDateTime } from "../lib/format";

export function CertificationPage() {
  const { api } = useApp();
  const session = useSignedIn();
  const me = useAsync(() => api.staff.getStaff({ staffId: session.staffId }), [session.staffId]);
  const download = useAction();
  if (me.error) return <ErrorBanner error={me.error} />;
  if (!me.data) return <Loading />;
  const c = me.data.certification;
  const status = c?.status ?? CertificationStatus.NOT_CERTIFIED;
  return (
    <div class="stack">
      <PageHeader title="My certification" />
      <section class="card">
        <p class="lead">
          <Badge tone={certificationTone(status)}>{certificationLabel(status)}</Badge>{" "}
          {status === CertificationStatus.CERTIFIED
            ? `You were certified on ${formatDate(c?.certifiedAt)} (certificate ${c?.certificateNumber}).`
            : status === CertificationStatus.INVITED
              ? `You were invited to certify on ${formatDateTime(c?.invitedAt)}. Once your certification is recorded, your certificate appears here.`
              : "You have not been invited to certify yet."}
        </p>
        {status === CertificationStatus.CERTIFIED ? (
          <Button
            variant="primary"
            busy={download.busy}
            onClick={() =>
              void download.run(async () => {
                const cert = await api.staff.downloadCertificate({ staffId: session.staffId });
                downloadBlob(cert.content, cert.fileName, cert.contentType);
              })
            }
          >
            Download certificate
          </Button>
        ) : null}
        <ErrorBanner error={download.error} />
      </section>
    </div>
  );
}
