# English: the source language. Terms follow Cisco's guide "Troubleshoot ECE
# OAUTH2 Authentication with Office 365". Every key here must exist in
# fr.ftl, nl.ftl, es.ftl and zh.ftl (tests/i18n.rs checks it).

## Report frame

report-title = ECE and Office 365: check items of the troubleshooting guide
report-role = Server role: { $role ->
    [services] services server
    [application] application server
   *[both] services and application server
}
report-summary = { $passed } passed, { $failed } failed, { $not_checked } not checked.
status-passed = PASSED
status-failed = FAILED
status-not_checked = NOT CHECKED
label-evidence = Evidence
label-remedy = What to do
label-reply = Detail
label-ids = Microsoft ids
evidence-proxy = HTTP proxy in the path: { $proxy }
page-checks-run = { $ran } of { $configured } { $configured ->
    [one] check has
   *[other] checks have
} run.
page-metrics = Metrics
report-item = { $n }. { $title }: { $status }
report-labelled = { $label }: { $value }

## The guide's check items

item-minimum_version = Minimum version
item-system_configuration = System configuration (External URL and redirect URI)
item-azure_ad_application = Azure AD application and client secret
item-token_generation = Token generation (user, scopes, lifetime)
item-mailbox_configuration = Mailbox configuration (SMTP, IMAP, POP3)
item-exchange_license = Exchange license
item-mailbox_rights = Mailbox rights
item-network_connectivity = Network connectivity (URLs, DNS, ports, TLS)
item-token_refresh = Token refresh

## Findings

version-meets = ECE { $version } meets the minimum { $minimum }.
version-newer = ECE { $version } is newer than the guide's table: OAuth for Office 365 is built in.
version-below = ECE { $version } lacks the engineering special OAuth needs: the minimum is { $minimum }.
version-too-old = ECE { $version } is older than the first release with OAuth for Office 365 ({ $minimum }).
version-not-in-table = ECE { $version } is not in the guide's minimum version table; check the release notes for OAuth support (Cisco bug CSCvr86493).
urls-match = The External URL and the redirect URI use the same host, { $host }.
urls-differ = The External URL host { $external } differs from the redirect URI host { $redirect }.
secret-valid = The client secret of tenant { $tenant } is valid until { $date }.
secret-expires-soon = The client secret of tenant { $tenant } expires on { $date }, in { $days ->
    [one] { $days } day
   *[other] { $days } days
}: create a new one before then.
secret-expired = The client secret of tenant { $tenant } expired on { $date }.
check-not-run = { $check } has not run yet.
check-failed = { $check } ({ $target }) failed (reason: `{ $reason }`, phase: `{ $phase }`).
blocked = Not reached by { $check }: it failed earlier ({ $reason }).
port-not-checked = No check covers port { $port } ({ $use ->
    [token] HTTPS to login.microsoftonline.com, for the tokens
    [smtp] SMTP with STARTTLS, for the dispatcher and alarm notifications
   *[retriever] IMAP or POP3 over TLS, for the retriever
}): add a tcp, tls or mail check for it.
protocol-not-checked = No authenticated { $protocol } check for { $mailbox }: add one with `mailbox:` to check that the protocol is enabled.

## Details of failures the agent found itself (a server's own text is shown as sent)

detail-token_wrong_user = The token was issued to { $got }, not { $user }.
detail-token_no_user = The token names no user; it should be issued to { $user }.
detail-token_audience = The token is for { $audience }, not for Exchange Online.
detail-token_missing_delegated = The token lacks the delegated permission { $permissions }.
detail-token_missing_application = The token lacks the application permission { $permissions }.
detail-token_expires_before_issued = The access token expires before it was issued (its exp claim is earlier than its iat claim).
detail-token_lifetime = The access token lasts { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
}; the guide requires at least 60.

ok-minimum_version = { $check } passed.
ok-system_configuration = { $check } passed.
ok-azure_ad_application = Tenant { $tenant } accepted the application's credentials ({ $check }).
ok-token_generation = The token used by { $check } is for { $user }, has the scopes, and lasts { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
}.
ok-mailbox_configuration = { $protocol } accepts XOAUTH2 for { $mailbox } ({ $check }).
ok-exchange_license = Exchange Online hosts the mailbox { $mailbox } ({ $check }); the guide asks for at least an E3 license.
ok-mailbox_rights = { $model ->
    [shared] Shared account: { $user } has access to { $mailbox } ({ $check }).
   *[own] Mailbox account: { $mailbox } opens with its own account and token ({ $check }).
}
ok-network_connectivity = { $check } reached { $target }.
ok-network_connectivity-proxy = { $check } reached { $target } through the HTTP proxy { $proxy }.
ok-external_url = ECE's External URL { $target } answered { $check } over HTTPS from this server, with a certificate valid for its name.
ok-azure_ad_application-tenant = Tenant { $tenant } exists: its OpenID metadata at { $target } names the directory { $tenant_id } ({ $check }). Only a token check shows that the application's credentials are accepted.
ok-token_refresh = { $check } has a valid access token for { $user }, refreshed with the stored credentials.

why-minimum_version = Not checked: add `ece.version` to the config (e.g. `12.5(1) ES3`, as on ECE's About page).
why-system_configuration = Not checked: add `ece.external_url` (ECE's "External URL of Application") and `ece.redirect_uri` (the app registration's redirect URI) to the config.
why-azure_ad_application = Not checked: no tenant with a tenant check, a token check or an authenticated mail check is configured ({ $tenants ->
    [one] { $tenants } tenant
   *[other] { $tenants } tenants
}, { $mailboxes ->
    [one] { $mailboxes } mailbox
   *[other] { $mailboxes } mailboxes
}).
why-token_generation = Not checked: no mailbox with credentials is configured, so no token was examined ({ $mailboxes ->
    [one] { $mailboxes } mailbox
   *[other] { $mailboxes } mailboxes
}).
why-mailbox_configuration = Not checked: no mail check with `mailbox:` is configured ({ $mailboxes ->
    [one] { $mailboxes } mailbox
   *[other] { $mailboxes } mailboxes
}).
why-exchange_license = Not checked: only an authenticated IMAP, POP3 or SMTP check shows that Exchange Online hosts the mailbox; the license itself is in the Microsoft 365 admin center.
why-mailbox_rights = Not checked: no mail check with `mailbox:` is configured ({ $mailboxes ->
    [one] { $mailboxes } mailbox
   *[other] { $mailboxes } mailboxes
}).
why-network_connectivity = Not checked: no DNS, TCP, TLS or mail check is configured.
why-token_refresh = Not checked: no `kind: token` check or authenticated mail check is configured ({ $mailboxes ->
    [one] { $mailboxes } mailbox
   *[other] { $mailboxes } mailboxes
}).

## Remedies for the configuration

remedy-version-below = Install the engineering special for your release ({ $minimum }) or later, then follow that release's OAuth documentation. Best practice is the latest ES.
remedy-version-too-old = Upgrade ECE to a release with OAuth for Office 365 ({ $minimum } or later).
remedy-urls-differ = The redirect URI's FQDN must match ECE's External URL of Application and be the name used to open the admin console: correct one of them (Azure AD app registration > Authentication, or ECE Partition > Apps > General Settings), then generate the token again.
remedy-secret-expired = Create a new client secret in the app registration (Certificates & secrets), update it where ECE and this agent read it (tenant { $tenant }), and set `client_secret_expires`.

## Remedies for check failures, by reason

remedy-dns_nxdomain = The name { $host } does not exist for this server's resolver: check the spelling, and that the DNS server (or split-horizon DNS) resolves the Office 365 names (*.office365.com, login.microsoftonline.com).
remedy-dns_servfail = The DNS server failed to answer for { $host }: check the resolver and its forwarders, from this server.
remedy-dns_refused = The DNS server refused the query for { $host }: allow this server to use it, or configure another resolver.
remedy-dns_no_answer = The name { $host } exists but has no record of the asked type: check the record type of the check and the DNS zone.
remedy-dns_timeout = No DNS answer in time for { $host }: check that UDP/TCP port 53 to the resolver is open from this server.
remedy-dns_error = The DNS answer for { $host } could not be used: check the resolver; try `nslookup { $host }` from this server.
remedy-resolve_failed = This server could not resolve { $host }: check its DNS settings and the hosts file.
remedy-connect_refused = { $target } refused the connection: something on the path (a firewall or proxy) rejects port { $port }; open it from this server.
remedy-connect_timeout = No answer from { $target }: a firewall drops port { $port }. Open TCP { $port } outbound from this server (guide: Ports).
remedy-network_unreachable = This server has no route to { $target }: check the default gateway, the proxy design and outbound routing.
remedy-proxy_connect_failed = The HTTP proxy on the way to { $target } failed, not Microsoft: it is unreachable, closed the connection or did not answer CONNECT in HTTP. Check the proxy address and port in `proxy:` (or HTTPS_PROXY), and that the proxy service is running and reachable from this server.
remedy-proxy_auth_required = The HTTP proxy on the way to { $target } requires authentication (407): set `proxy_user` and `proxy_password` (env:NAME or file:PATH) beside `proxy:`, check that the account is neither locked nor expired, and that the proxy accepts Basic authentication.
remedy-proxy_denied = The HTTP proxy refused the tunnel to { $target } (its status is in the detail), not Microsoft: ask the proxy administrators to allow CONNECT from this server to { $host } port { $port }.
remedy-local_resource_exhausted = This server, not the network, ran out of file descriptors or socket buffers while checking { $target }: raise the agent's open-file limit (systemd `LimitNOFILE=`, `ulimit -n`), look for a process leaking sockets, and compare with `ss -s`.
remedy-tls_handshake_failed = The TLS handshake with { $target } failed: a proxy or firewall may intercept or block TLS; exempt the Office 365 hosts from TLS inspection.
remedy-tls_version_unsupported = { $target } speaks only TLS 1.0 or 1.1: Office 365 requires TLS 1.2, so an old proxy or load balancer answers instead of Microsoft; route the host around it or upgrade it.
remedy-tls_cert_expired = The certificate { $target } presented has expired: if it is not Microsoft's, a TLS inspection device is in the path; exempt the host or renew its certificate.
remedy-tls_cert_not_yet_valid = The certificate is not valid yet: check this server's clock (NTP) first.
remedy-tls_cert_untrusted = The certificate of { $target } is not trusted: usually TLS inspection by a corporate proxy. Exempt *.office365.com and login.microsoftonline.com from inspection, or add the proxy's CA with `extra_ca_file` (and to Java's trust store for ECE).
remedy-tls_cert_name_mismatch = The certificate of { $target } is for another name: check the target host name, or a proxy that answers for it.
remedy-tls_unexpected_issuer = The certificate of { $target } comes from an unexpected issuer: TLS inspection is in the path. Exempt the host from inspection or update `expected_issuer`.
remedy-timeout = { $target } did not finish in time: check for a slow proxy or packet loss on the path, then raise `timeout` only if the path is known to be slow.
remedy-connection_closed = { $target } closed the connection early: a firewall or proxy may cut the session; check its logs for this server.
remedy-line_too_long = { $target } sent an endless line: this is not an Exchange Online mail server; check the target and the proxy.
remedy-too_many_lines = { $target } sent an endless reply: this is not an Exchange Online mail server; check the target and the proxy.
remedy-reply_too_large = { $target } sent a reply larger than any mail server sends: this is not an Exchange Online mail server; check the target and the proxy.
remedy-unexpected_reply = { $target } answered something unexpected: check that the target speaks the check's protocol (ports 587, 993, 995) and that no proxy rewrites it.
remedy-greeting_rejected = { $target } refused the session in its greeting: the server may block this source address; check the reply below.
remedy-starttls_not_offered = { $target } did not offer STARTTLS: a device in the path may strip it (SMTP inspection on a firewall); disable that inspection for port 587.
remedy-starttls_rejected = { $target } refused STARTTLS: check the reply below and any SMTP proxy in the path.
remedy-http_unexpected_status = { $target } answered with an HTTP status the check does not expect (the status, and for a redirect the host it points to, are in the detail): check the URL and `expect_status`; a redirect to a sign-in or block page means a proxy or filter in the path.
remedy-http_bad_response = { $target } answered with something that is not a usable HTTP response (not HTTP, headers too large, broken body): often a proxy or TLS inspection box in the path; compare with `curl -v` from this server.
remedy-auth_mechanism_not_offered = { $target } does not offer XOAUTH2: make sure the target is Exchange Online (smtp.office365.com, outlook.office365.com) and that SMTP AUTH is enabled for the organisation.
remedy-auth_rejected = Exchange refused the token for { $mailbox }: enable { $protocol } for this mailbox in the Exchange admin center (Mailboxes > Manage email apps), and make sure the token belongs to { $user }.
remedy-auth_rejected-shared = Exchange refused { $user } on { $mailbox }: give { $user } Full Access to the mailbox (guide: Mailbox Rights, shared account) and enable { $protocol } for the mailbox in the Exchange admin center.
remedy-smtp_auth_disabled = { $hint ->
    [smtp_auth_tenant] SMTP AUTH is disabled for the whole organisation (Exchange: "SmtpClientAuthentication is disabled for the Tenant"): turn it on for the organisation in the Microsoft 365 admin center (Settings > Org settings > Mail, or `Set-TransportConfig -SmtpClientAuthenticationDisabled $false`), or enable "Authenticated SMTP" for { $mailbox } alone in the Exchange admin center (Manage email apps), which overrides the organisation's setting.
    [smtp_auth_mailbox] SMTP AUTH is disabled for { $mailbox } (Exchange: "SmtpClientAuthentication is disabled for the Mailbox"): enable "Authenticated SMTP" for the mailbox in the Exchange admin center (Mailboxes > Manage email apps), or run `Set-CASMailbox { $mailbox } -SmtpClientAuthenticationDisabled $false`.
    [security_defaults] Security defaults in Microsoft Entra ID block SMTP AUTH for { $user } (Exchange: "locked by your organization's security defaults policy"): turn off security defaults for tenant { $tenant } (Microsoft Entra admin center > Overview > Properties > Manage security defaults) and protect sign-ins with Conditional Access instead.
   *[other] SMTP AUTH is disabled for { $mailbox }: enable "Authenticated SMTP" for the mailbox in the Exchange admin center (Manage email apps), and check that the organisation does not disable it.
}
remedy-mailbox_not_found = Exchange accepted the login but found no mailbox for { $mailbox }: check that the account has an Exchange Online license (at least E3) and a mailbox.
remedy-mailbox_not_found-shared = { $user } logged in but cannot open { $mailbox }: give { $user } Full Access to the mailbox, or check the mailbox address.
remedy-mailbox_rights_missing = Exchange accepted the token of { $user } but gives it no access to { $mailbox } (guide: Mailbox Rights): give { $user } Full Access to the mailbox (`Add-MailboxPermission -Identity { $mailbox } -User { $user } -AccessRights FullAccess`); with an app's token (client credentials), grant the app's service principal the same with `Add-MailboxPermission` after `New-ServicePrincipal`.
remedy-send_as_denied = Exchange does not let { $user } send as { $mailbox } (SendAsDenied, guide: Mailbox Rights): give { $user } the Send As permission on the mailbox (Exchange admin center > Mailboxes > { $mailbox } > Delegation > Send as, or `Add-RecipientPermission { $mailbox } -AccessRights SendAs -Trustee { $user }`), besides Full Access.
remedy-sender_blocked = Exchange has blocked { $user } from sending ("Access denied, bad outbound sender"): Microsoft restricted the account after detecting outbound spam. Secure the account, then release it in the Microsoft Defender portal (Email & collaboration > Review > Restricted entities), and find out what sent the spam.
remedy-sending_limit_reached = { $mailbox } reached an Exchange Online sending limit (recipients per day, messages per minute or submission quota): wait for the limit to reset (up to 24 hours), and reduce what ECE and other applications send through the mailbox; see the Exchange Online limits.
remedy-recipient_rejected = Exchange refused the recipient of the test message: check the address the check sends to, and the transport rules or connectors that restrict the recipients of { $mailbox }.
remedy-submission_deferred = Exchange deferred the message with a temporary error (4xx), usually because the service is busy or throttles the sender: if it lasts, check Service health in the Microsoft 365 admin center and the sending limits of { $mailbox }.
remedy-message_not_delivered = Exchange accepted the test message sent as { $mailbox }, but it did not reach the probe mailbox before the check's timeout (guide: Mailbox Configuration): look the message up in Exchange's message trace (Exchange admin center > Mail flow > Message trace, subject and Message-ID in the agent's log), and check transport rules, quarantine and the probe mailbox's Junk Email folder; if mail only arrives late, raise the check's `timeout`.
remedy-cleanup_failed = The test message arrived, but the check could not delete it from the probe mailbox (guide: Mailbox Rights): check that the probe mailbox's token account has full access to its INBOX and that the server offers UIDPLUS; the next run deletes the leftovers.
remedy-token_endpoint_unreachable = The token endpoint could not be reached: open HTTPS (443) to login.microsoftonline.com from this server, and set `proxy` for tenant { $tenant } if a proxy is required.
remedy-token_endpoint_timeout = The token endpoint did not answer in time: something on the path to login.microsoftonline.com (a proxy, a TLS inspection device, a firewall that accepts and then drops) holds the request; check the path from this server and `proxy` for tenant { $tenant }. The agent retries after a backoff.
remedy-token_bad_response = The token endpoint answered with something that is not a token response, often a proxy's page: exempt login.microsoftonline.com from the proxy or set `proxy` correctly.
remedy-token_invalid_grant = The refresh token of { $user } was refused (revoked, password changed, or issued to another app): generate it again from a private browser window, signed in as { $user }.
remedy-token_refresh_token_expired = The refresh token of { $user } expired after 90 days without use: generate it again from a private browser window, signed in as { $user }.
remedy-token_invalid_client = Azure AD refused the application's credentials: check the client ID and the client secret of tenant { $tenant } (the secret value, not its ID).
remedy-token_client_secret_expired = The client secret of tenant { $tenant } has expired: create a new one in the app registration (Certificates & secrets) and update `client_secret`.
remedy-token_consent_required = The application lacks admin consent for the mail permissions: grant admin consent in the app registration (API permissions) for tenant { $tenant }.
remedy-token_interaction_required = Azure AD asks { $user } to sign in again (MFA or Conditional Access): generate the token again from a private browser window, and exclude the service account from policies that need interaction.
remedy-token_unknown_tenant = Tenant { $tenant } is not known to Azure AD: check `tenant_id` (directory ID or domain) and the authority.
remedy-token_unknown_client = The application is not found in tenant { $tenant }: check `client_id` and that the app registration exists in this tenant.
remedy-token_throttled = Azure AD is throttling token requests: the agent backs off; if it persists, lower the number of token checks or raise their interval.
remedy-token_wrong_user = The token was issued to another user than { $user }: generate it again from a private (incognito) browser window, signed in as { $user } (guide: Token Generation).
remedy-token_missing_scope = The token lacks the { $protocol } permission: add the delegated permission (IMAP.AccessAsUser.All, POP.AccessAsUser.All or SMTP.Send) to the app registration, grant consent, and generate the token again.
remedy-token_lifetime_too_short = The access token lasts less than 60 minutes: remove the token lifetime policy that shortens it (guide: Azure AD Application, access token).
remedy-token_store_unwritable = The agent cannot save the rotated refresh token: check the permissions and free space of the token store's directory.
remedy-internal = The agent hit an internal error: see its log for { $check } and report it with the log line.
