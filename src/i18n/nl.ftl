# Nederlands: vertaling van en.ftl. De termen volgen de Nederlandse gids van Cisco
# "Probleemoplossing voor ECE OAUTH2-verificatie met Office 365".

## Kader van het rapport

report-title = ECE en Office 365: items van de controlelijst van de gids voor probleemoplossing
report-role = Serverrol: { $role ->
    [services] serviceserver
    [application] toepassingsserver
   *[both] serviceserver en toepassingsserver
}
report-summary = Geslaagd: { $passed }, mislukt: { $failed }, niet gecontroleerd: { $not_checked }.
status-passed = GESLAAGD
status-failed = MISLUKT
status-not_checked = NIET GECONTROLEERD
label-evidence = Bevinding
label-remedy = Wat te doen
label-reply = Details
label-ids = Microsoft-id's
evidence-proxy = HTTP-proxy op de route: { $proxy }
page-checks-run = { $ran } van { $configured } { $configured ->
    [one] controle is
   *[other] controles zijn
} uitgevoerd.
page-metrics = Metrische gegevens
report-item = { $n }. { $title }: { $status }
report-labelled = { $label }: { $value }

## De controle-items van de gids

item-minimum_version = Minimale versie
item-system_configuration = Systeemconfiguratie (externe URL van de toepassing en Redirect URL)
item-azure_ad_application = Azure AD-toepassing en clientgeheim
item-token_generation = Tokengeneratie (gebruiker, bereiken, levensduur)
item-mailbox_configuration = Configuratie van postvak (SMTP, IMAP, POP3)
item-exchange_license = Exchange-licentie
item-mailbox_rights = Mailboxrechten
item-network_connectivity = Netwerkverbinding (URL's, DNS, poorten, TLS)
item-token_refresh = Tokenvernieuwing

## Bevindingen

version-meets = ECE { $version } voldoet aan de minimale versie { $minimum }.
version-newer = ECE { $version } is nieuwer dan de tabel in de gids: OAuth voor Office 365 is ingebouwd.
version-below = ECE { $version } mist de technische special (ES) die OAuth nodig heeft: de minimale versie is { $minimum }.
version-too-old = ECE { $version } is ouder dan de eerste release met OAuth voor Office 365 ({ $minimum }).
version-not-in-table = ECE { $version } staat niet in de tabel met minimale versies van de gids; controleer in de release notes of OAuth wordt ondersteund (Cisco-bug CSCvr86493).
urls-match = De externe URL van de toepassing en de Redirect URL gebruiken dezelfde host, { $host }.
urls-differ = De host van de externe URL van de toepassing, { $external }, verschilt van de host van de Redirect URL, { $redirect }.
secret-valid = Het clientgeheim van tenant { $tenant } is geldig tot { $date }.
secret-expires-soon = Het clientgeheim van tenant { $tenant } verloopt op { $date }, over { $days ->
    [one] { $days } dag
   *[other] { $days } dagen
}: maak vóór die datum een nieuw geheim aan.
secret-expired = Het clientgeheim van tenant { $tenant } is verlopen op { $date }.
check-not-run = De controle { $check } is nog niet uitgevoerd.
check-failed = De controle { $check } ({ $target }) is mislukt (reden: `{ $reason }`, fase: `{ $phase }`).
blocked = Niet bereikt door { $check }: deze controle is eerder mislukt ({ $reason }).
port-not-checked = Geen enkele controle dekt poort { $port } ({ $use ->
    [token] HTTPS naar login.microsoftonline.com, voor de tokens
    [smtp] SMTP met STARTTLS, voor de verzender (dispatcher) en alarmmeldingen
   *[retriever] IMAP of POP3 via TLS, voor de retriever
}): voeg er een tcp-, tls- of mail-controle voor toe.
protocol-not-checked = Geen geverifieerde { $protocol }-controle voor { $mailbox }: voeg er een toe met `mailbox:` om te controleren of het protocol is ingeschakeld.

## Details van fouten die de agent zelf vaststelde (de tekst van een server wordt ongewijzigd getoond)

detail-token_wrong_user = Het token is uitgegeven aan { $got }, niet aan { $user }.
detail-token_no_user = Het token noemt geen gebruiker; het moet zijn uitgegeven aan { $user }.
detail-token_audience = Het token is bedoeld voor { $audience }, niet voor Exchange Online.
detail-token_missing_delegated = Het token mist de gedelegeerde machtiging { $permissions }.
detail-token_missing_application = Het token mist de toepassingsmachtiging { $permissions }.
detail-token_expires_before_issued = Het toegangstoken verloopt voordat het is uitgegeven (de claim exp ligt vóór de claim iat).
detail-token_lifetime = Het toegangstoken is { $minutes ->
    [one] { $minutes } minuut
   *[other] { $minutes } minuten
} geldig; de gids vereist ten minste 60 minuten.

ok-minimum_version = De controle { $check } is geslaagd.
ok-system_configuration = De controle { $check } is geslaagd.
ok-azure_ad_application = Tenant { $tenant } heeft de referenties van de toepassing geaccepteerd ({ $check }).
ok-token_generation = Het token dat { $check } gebruikt, is van { $user }, heeft de vereiste bereiken (scopes) en is { $minutes ->
    [one] { $minutes } minuut
   *[other] { $minutes } minuten
} geldig.
ok-mailbox_configuration = { $protocol } accepteert XOAUTH2 voor { $mailbox } ({ $check }).
ok-exchange_license = Exchange Online host het postvak { $mailbox } ({ $check }); de gids vereist ten minste een E3-licentie.
ok-mailbox_rights = { $model ->
    [shared] Gedeelde account: { $user } heeft toegang tot { $mailbox } ({ $check }).
   *[own] Mailbox-account: { $mailbox } opent met een eigen account en token ({ $check }).
}
ok-network_connectivity = { $check } heeft { $target } bereikt.
ok-network_connectivity-proxy = { $check } heeft { $target } bereikt via de HTTP-proxy { $proxy }.
ok-external_url = De externe URL van de toepassing ECE { $target } heeft { $check } via HTTPS vanaf deze server beantwoord, met een certificaat dat geldig is voor de naam.
ok-azure_ad_application-tenant = Tenant { $tenant } bestaat: de OpenID-metagegevens op { $target } noemen de directory { $tenant_id } ({ $check }). Alleen een tokencontrole toont dat de referenties van de toepassing worden geaccepteerd.
ok-token_refresh = { $check } heeft een geldig toegangstoken voor { $user }, vernieuwd met de opgeslagen referenties.

why-minimum_version = Niet gecontroleerd: voeg `ece.version` toe aan de configuratie (bijv. `12.5(1) ES3`, zoals op de Info-pagina van ECE).
why-system_configuration = Niet gecontroleerd: voeg `ece.external_url` (de "Externe URL van de toepassing" van ECE) en `ece.redirect_uri` (de Redirect URL van de app-registratie) toe aan de configuratie.
why-azure_ad_application = Niet gecontroleerd: er is geen tenant geconfigureerd met een tenantcontrole, een tokencontrole of een geverifieerde mailcontrole ({ $tenants ->
    [one] { $tenants } tenant
   *[other] { $tenants } tenants
}, { $mailboxes ->
    [one] { $mailboxes } postvak
   *[other] { $mailboxes } postvakken
}).
why-token_generation = Niet gecontroleerd: er is geen postvak met referenties geconfigureerd, dus er is geen token onderzocht ({ $mailboxes ->
    [one] { $mailboxes } postvak
   *[other] { $mailboxes } postvakken
}).
why-mailbox_configuration = Niet gecontroleerd: er is geen mailcontrole met `mailbox:` geconfigureerd ({ $mailboxes ->
    [one] { $mailboxes } postvak
   *[other] { $mailboxes } postvakken
}).
why-exchange_license = Niet gecontroleerd: alleen een geverifieerde IMAP-, POP3- of SMTP-controle toont aan dat Exchange Online het postvak host; de licentie zelf staat in het Microsoft 365-beheercentrum.
why-mailbox_rights = Niet gecontroleerd: er is geen mailcontrole met `mailbox:` geconfigureerd ({ $mailboxes ->
    [one] { $mailboxes } postvak
   *[other] { $mailboxes } postvakken
}).
why-network_connectivity = Niet gecontroleerd: er is geen DNS-, TCP-, TLS- of mailcontrole geconfigureerd.
why-token_refresh = Niet gecontroleerd: er is geen `kind: token`-controle of geverifieerde mailcontrole geconfigureerd ({ $mailboxes ->
    [one] { $mailboxes } postvak
   *[other] { $mailboxes } postvakken
}).

## Oplossingen voor de configuratie

remedy-version-below = Installeer de technische special (ES) voor uw release ({ $minimum }) of later en volg daarna de OAuth-documentatie van die release. Best practice is om de nieuwste ES te installeren.
remedy-version-too-old = Upgrade ECE naar een release met OAuth voor Office 365 ({ $minimum } of later).
remedy-urls-differ = De FQDN van de Redirect URL moet overeenkomen met de externe URL van de toepassing in ECE en moet de naam zijn waarmee de beheerdersconsole wordt geopend: corrigeer een van beide (Azure AD-app-registratie > Verificatie, of in ECE Partitie > Apps > Algemene instellingen) en genereer het token daarna opnieuw.
remedy-secret-expired = Maak een nieuw clientgeheim aan in de app-registratie (Certificaten en geheimen), werk het bij waar ECE en deze agent het lezen (tenant { $tenant }) en stel `client_secret_expires` in.

## Oplossingen voor mislukte controles, per reden

remedy-dns_nxdomain = De naam { $host } bestaat niet voor de resolver van deze server: controleer de spelling en of de DNS-server (of split-horizon-DNS) de Office 365-namen omzet (*.office365.com, login.microsoftonline.com).
remedy-dns_servfail = De DNS-server kon geen antwoord geven voor { $host }: controleer vanaf deze server de resolver en de forwarders ervan.
remedy-dns_refused = De DNS-server heeft de query voor { $host } geweigerd: sta deze server toe de DNS-server te gebruiken, of configureer een andere resolver.
remedy-dns_no_answer = De naam { $host } bestaat, maar heeft geen record van het gevraagde type: controleer het recordtype van de controle en de DNS-zone.
remedy-dns_timeout = Geen tijdig DNS-antwoord voor { $host }: controleer of UDP/TCP-poort 53 naar de resolver openstaat vanaf deze server.
remedy-dns_error = Het DNS-antwoord voor { $host } was onbruikbaar: controleer de resolver; probeer `nslookup { $host }` vanaf deze server.
remedy-resolve_failed = Deze server kon { $host } niet omzetten: controleer de DNS-instellingen en het hosts-bestand.
remedy-connect_refused = { $target } heeft de verbinding geweigerd: iets op het pad (een firewall of proxy) weigert poort { $port }; open deze poort vanaf deze server.
remedy-connect_timeout = Geen antwoord van { $target }: een firewall blokkeert verkeer naar poort { $port }. Open uitgaand TCP { $port } vanaf deze server (gids: Poorten).
remedy-network_unreachable = Deze server heeft geen route naar { $target }: controleer de standaardgateway, het proxyontwerp en de uitgaande routering.
remedy-proxy_connect_failed = De HTTP-proxy op de weg naar { $target } faalt, niet Microsoft: hij is onbereikbaar, heeft de verbinding gesloten of heeft CONNECT niet in HTTP beantwoord. Controleer het adres en de poort van de proxy in `proxy:` (of HTTPS_PROXY), en of de proxydienst draait en vanaf deze server bereikbaar is.
remedy-proxy_auth_required = De HTTP-proxy op de weg naar { $target } vereist authenticatie (407): stel `proxy_user` en `proxy_password` (env:NAAM of file:PAD) naast `proxy:` in, controleer dat het account niet geblokkeerd of verlopen is, en dat de proxy Basic-authenticatie accepteert.
remedy-proxy_denied = De HTTP-proxy heeft de tunnel naar { $target } geweigerd (de statuscode staat in het detail), niet Microsoft: vraag de proxybeheerders om CONNECT vanaf deze server naar { $host } poort { $port } toe te staan.
remedy-local_resource_exhausted = Deze server, niet het netwerk, had geen bestandsdescriptors of socketbuffers meer bij het controleren van { $target }: verhoog de limiet voor open bestanden van de agent (systemd `LimitNOFILE=`, `ulimit -n`), zoek een proces dat sockets lekt en vergelijk met `ss -s`.
remedy-tls_handshake_failed = De TLS-handshake met { $target } is mislukt: een proxy of firewall onderschept of blokkeert mogelijk TLS; zonder de Office 365-hosts uit van TLS-inspectie.
remedy-tls_version_unsupported = { $target } ondersteunt alleen TLS 1.0 of 1.1: Office 365 vereist TLS 1.2, dus een oude proxy of load balancer antwoordt in plaats van Microsoft; laat het verkeer naar deze host die proxy omzeilen, of werk de proxy bij.
remedy-tls_cert_expired = Het certificaat dat { $target } presenteerde, is verlopen: als het niet van Microsoft is, zit er een TLS-inspectieapparaat op het pad; zonder de host uit of vernieuw het certificaat ervan.
remedy-tls_cert_not_yet_valid = Het certificaat is nog niet geldig: controleer eerst de klok van deze server (NTP).
remedy-tls_cert_untrusted = Het certificaat van { $target } wordt niet vertrouwd: meestal door TLS-inspectie van een bedrijfsproxy. Zonder *.office365.com en login.microsoftonline.com uit van inspectie, of voeg de CA van de proxy toe met `extra_ca_file` (en aan de Java-truststore van ECE).
remedy-tls_cert_name_mismatch = Het certificaat van { $target } is voor een andere naam: controleer de hostnaam van het doel, of zoek een proxy die in plaats van het doel antwoordt.
remedy-tls_unexpected_issuer = Het certificaat van { $target } komt van een onverwachte uitgever: er zit TLS-inspectie op het pad. Zonder de host uit van inspectie of werk `expected_issuer` bij.
remedy-timeout = { $target } was niet op tijd klaar: zoek naar een trage proxy of pakketverlies op het pad en verhoog `timeout` alleen als bekend is dat het pad traag is.
remedy-connection_closed = { $target } heeft de verbinding voortijdig gesloten: een firewall of proxy verbreekt mogelijk de sessie; controleer de logboeken ervan voor deze server.
remedy-line_too_long = { $target } stuurde een eindeloze regel: dit is geen mailserver van Exchange Online; controleer het doel en de proxy.
remedy-too_many_lines = { $target } stuurde een eindeloos antwoord: dit is geen mailserver van Exchange Online; controleer het doel en de proxy.
remedy-reply_too_large = { $target } stuurde een antwoord groter dan een mailserver ooit stuurt: dit is geen mailserver van Exchange Online; controleer het doel en de proxy.
remedy-unexpected_reply = { $target } gaf een onverwacht antwoord: controleer of het doel het protocol van de controle gebruikt (poorten 587, 993, 995) en of geen proxy het herschrijft.
remedy-greeting_rejected = { $target } weigerde de sessie al in het welkomstbericht: de server blokkeert mogelijk dit bronadres; controleer het antwoord hieronder.
remedy-starttls_not_offered = { $target } bood geen STARTTLS aan: een apparaat op het pad verwijdert het mogelijk (SMTP-inspectie op een firewall); schakel die inspectie uit voor poort 587.
remedy-starttls_rejected = { $target } weigerde STARTTLS: controleer het antwoord hieronder en eventuele SMTP-proxy's op het pad.
remedy-http_unexpected_status = { $target } antwoordde met een HTTP-status die de controle niet verwacht (de status en, bij een doorverwijzing, de host waarnaar die wijst staan in het detail): controleer de URL en `expect_status`; een doorverwijzing naar een aanmeld- of blokkeringspagina wijst op een proxy of filter op het pad.
remedy-http_bad_response = { $target } antwoordde met iets dat geen bruikbaar HTTP-antwoord is (geen HTTP, te grote headers, kapotte body): vaak een proxy of TLS-inspectieapparaat op het pad; vergelijk met `curl -v` vanaf deze server.
remedy-auth_mechanism_not_offered = { $target } biedt geen XOAUTH2 aan: zorg dat het doel Exchange Online is (smtp.office365.com, outlook.office365.com) en dat SMTP AUTH voor de organisatie is ingeschakeld.
remedy-auth_rejected = Exchange weigerde het token voor { $mailbox }: schakel { $protocol } in voor dit postvak in het Exchange-beheercentrum (Postvakken > E-mail-apps beheren) en zorg dat het token van { $user } is.
remedy-auth_rejected-shared = Exchange weigerde { $user } op { $mailbox }: geef { $user } volledige controle over het postvak (machtiging Volledige toegang; gids: Mailboxrechten, gedeelde account) en schakel { $protocol } in voor het postvak in het Exchange-beheercentrum.
remedy-smtp_auth_disabled = { $hint ->
    [smtp_auth_tenant] SMTP AUTH is uitgeschakeld voor de hele organisatie (Exchange: "SmtpClientAuthentication is disabled for the Tenant"): schakel het in voor de organisatie in het Microsoft 365-beheercentrum (Instellingen > Organisatie-instellingen > E-mail, of `Set-TransportConfig -SmtpClientAuthenticationDisabled $false`), of schakel "Geverifieerde SMTP" alleen voor { $mailbox } in in het Exchange-beheercentrum (E-mail-apps beheren); dat gaat voor op de instelling van de organisatie.
    [smtp_auth_mailbox] SMTP AUTH is uitgeschakeld voor { $mailbox } (Exchange: "SmtpClientAuthentication is disabled for the Mailbox"): schakel "Geverifieerde SMTP" in voor het postvak in het Exchange-beheercentrum (Postvakken > E-mail-apps beheren), of voer `Set-CASMailbox { $mailbox } -SmtpClientAuthenticationDisabled $false` uit.
    [security_defaults] De standaardinstellingen voor beveiliging van Microsoft Entra ID blokkeren SMTP AUTH voor { $user } (Exchange: "locked by your organization's security defaults policy"): schakel de standaardinstellingen voor beveiliging uit voor tenant { $tenant } (Microsoft Entra-beheercentrum > Overzicht > Eigenschappen > Standaardinstellingen voor beveiliging beheren) en beveilig aanmeldingen in plaats daarvan met voorwaardelijke toegang.
   *[other] SMTP AUTH is uitgeschakeld voor { $mailbox }: schakel "Geverifieerde SMTP" in voor het postvak in het Exchange-beheercentrum (E-mail-apps beheren) en controleer of de organisatie het niet uitschakelt.
}
remedy-mailbox_not_found = Exchange accepteerde de aanmelding, maar vond geen postvak voor { $mailbox }: controleer of het account een Exchange Online-licentie (ten minste E3) en een postvak heeft.
remedy-mailbox_not_found-shared = { $user } is aangemeld, maar kan { $mailbox } niet openen: geef { $user } volledige controle over het postvak (machtiging Volledige toegang), of controleer het adres van het postvak.
remedy-mailbox_rights_missing = Exchange accepteerde het token van { $user }, maar geeft het geen toegang tot { $mailbox } (gids: Mailboxrechten): geef { $user } volledige controle over het postvak (`Add-MailboxPermission -Identity { $mailbox } -User { $user } -AccessRights FullAccess`); geef bij het token van een app (clientreferenties) de service-principal van de app hetzelfde recht met `Add-MailboxPermission` na `New-ServicePrincipal`.
remedy-send_as_denied = Exchange staat niet toe dat { $user } verzendt als { $mailbox } (SendAsDenied, gids: Mailboxrechten): geef { $user } de machtiging Verzenden als op het postvak (Exchange-beheercentrum > Postvakken > { $mailbox } > Delegering > Verzenden als, of `Add-RecipientPermission { $mailbox } -AccessRights SendAs -Trustee { $user }`), naast volledige controle.
remedy-sender_blocked = Exchange heeft { $user } geblokkeerd voor verzenden ("Access denied, bad outbound sender"): Microsoft heeft het account beperkt na uitgaande spam. Beveilig het account, geef het daarna vrij in de Microsoft Defender-portal (E-mail en samenwerking > Controleren > Beperkte entiteiten) en zoek uit wat de spam verzond.
remedy-sending_limit_reached = { $mailbox } heeft een verzendlimiet van Exchange Online bereikt (ontvangers per dag, berichten per minuut of verzendquotum): wacht tot de limiet opnieuw ingaat (tot 24 uur) en beperk wat ECE en andere toepassingen via het postvak verzenden; zie de limieten van Exchange Online.
remedy-recipient_rejected = Exchange weigerde de ontvanger van het testbericht: controleer het adres waarnaar de controle verzendt, en de transportregels of connectors die de ontvangers van { $mailbox } beperken.
remedy-submission_deferred = Exchange heeft het bericht uitgesteld met een tijdelijke fout (4xx), meestal omdat de service druk is of de afzender afremt: als het aanhoudt, controleer dan de servicestatus in het Microsoft 365-beheercentrum en de verzendlimieten van { $mailbox }.
remedy-message_not_delivered = Exchange heeft het testbericht dat als { $mailbox } is verzonden geaccepteerd, maar het kwam niet vóór de time-out van de controle in de testpostvak aan (gids: Configuratie van postvak): zoek het bericht op in de berichttracering van Exchange (Exchange-beheercentrum > E-mailstroom > Berichttracering; onderwerp en Message-ID staan in het logboek van de agent) en controleer transportregels, quarantaine en de map Ongewenste e-mail van de testpostvak; komt e-mail alleen laat aan, verhoog dan de `timeout` van de controle.
remedy-cleanup_failed = Het testbericht is aangekomen, maar de controle kon het niet uit de testpostvak verwijderen (gids: Mailboxrechten): controleer of het account van het token van de testpostvak volledige toegang heeft tot het Postvak IN en of de server UIDPLUS aanbiedt; de volgende uitvoering verwijdert de restanten.
remedy-token_endpoint_unreachable = Het tokeneindpunt is niet bereikbaar: open HTTPS (443) naar login.microsoftonline.com vanaf deze server en stel `proxy` in voor tenant { $tenant } als een proxy vereist is.
remedy-token_endpoint_timeout = Het tokeneindpunt antwoordde niet op tijd: iets op het pad naar login.microsoftonline.com (een proxy, een apparaat voor TLS-inspectie, een firewall die accepteert en dan laat vallen) houdt het verzoek vast; controleer het pad vanaf deze server en `proxy` voor tenant { $tenant }. De agent probeert het na een wachttijd opnieuw.
remedy-token_bad_response = Het tokeneindpunt gaf iets terug dat geen tokenantwoord is, vaak een pagina van een proxy: zonder login.microsoftonline.com uit van de proxy of stel `proxy` correct in.
remedy-token_invalid_grant = Het vernieuwingtoken van { $user } is geweigerd (ingetrokken, wachtwoord gewijzigd of uitgegeven aan een andere app): genereer het opnieuw vanuit een browservenster in incognito- of privémodus, aangemeld als { $user }.
remedy-token_refresh_token_expired = Het vernieuwingtoken van { $user } is na 90 dagen zonder gebruik verlopen: genereer het opnieuw vanuit een browservenster in incognito- of privémodus, aangemeld als { $user }.
remedy-token_invalid_client = Azure AD weigerde de referenties van de toepassing: controleer de client-id en het clientgeheim van tenant { $tenant } (de waarde van het geheim, niet de id ervan).
remedy-token_client_secret_expired = Het clientgeheim van tenant { $tenant } is verlopen: maak een nieuw geheim aan in de app-registratie (Certificaten en geheimen) en werk `client_secret` bij.
remedy-token_consent_required = De toepassing heeft geen beheerderstoestemming voor de mailmachtigingen: verleen beheerderstoestemming in de app-registratie (API-machtigingen) voor tenant { $tenant }.
remedy-token_interaction_required = Azure AD vraagt { $user } zich opnieuw aan te melden (MFA of voorwaardelijke toegang): genereer het token opnieuw vanuit een browservenster in incognito- of privémodus en sluit het serviceaccount uit van beleid dat interactie vereist.
remedy-token_unknown_tenant = Tenant { $tenant } is onbekend bij Azure AD: controleer `tenant_id` (directory-id of domein) en de instantie (authority).
remedy-token_unknown_client = De toepassing is niet gevonden in tenant { $tenant }: controleer `client_id` en of de app-registratie in deze tenant bestaat.
remedy-token_throttled = Azure AD beperkt de tokenaanvragen (throttling): de agent wacht langer tussen pogingen; als het aanhoudt, verlaag dan het aantal tokencontroles of verhoog hun interval.
remedy-token_wrong_user = Het token is uitgegeven aan een andere gebruiker dan { $user }: genereer het opnieuw vanuit een browservenster in incognito- of privémodus, aangemeld als { $user } (gids: Token Generation).
remedy-token_missing_scope = Het token mist de { $protocol }-machtiging: voeg de gedelegeerde machtiging (IMAP.AccessAsUser.All, POP.AccessAsUser.All of SMTP.Send) toe aan de app-registratie, verleen toestemming en genereer het token opnieuw.
remedy-token_lifetime_too_short = Het toegangstoken is minder dan 60 minuten geldig: verwijder het beleid voor tokenlevensduur dat het verkort (gids: Azure AD-toepassing, Access Token).
remedy-token_store_unwritable = De agent kan het geroteerde vernieuwingtoken niet opslaan: controleer de machtigingen en de vrije ruimte van de map van de tokenopslag.
remedy-internal = Er is een interne fout opgetreden in de agent: zie het logboek voor { $check } en meld de fout met de logregel.
