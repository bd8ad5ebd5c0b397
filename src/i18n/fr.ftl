# Français : traduction de en.ftl. Les termes suivent le guide de Cisco en français
# « Dépannage de l'authentification ECE OAUTH2 avec Office 365 ».

## Cadre du rapport

report-title = ECE et Office 365 : éléments de la liste de contrôle du guide de dépannage
report-role = Rôle du serveur : { $role ->
    [services] serveur de services
    [application] serveur d'applications
   *[both] serveur de services et serveur d'applications
}
report-summary = Réussis : { $passed }, en échec : { $failed }, non vérifiés : { $not_checked }.
status-passed = RÉUSSI
status-failed = ÉCHOUÉ
status-not_checked = NON VÉRIFIÉ
label-evidence = Constat
label-remedy = Que faire
label-reply = Détail
label-ids = Identifiants Microsoft
evidence-proxy = Proxy HTTP sur le chemin : { $proxy }
page-checks-run = { $ran } { $configured ->
    [one] vérification sur { $configured } a été exécutée
   *[other] vérifications sur { $configured } ont été exécutées
}.
page-metrics = Métriques
report-item = { $n }. { $title } : { $status }
report-labelled = { $label } : { $value }

## Les éléments de contrôle du guide

item-minimum_version = Version minimale
item-system_configuration = Configuration système (URL externe de l'application et URL de redirection)
item-azure_ad_application = Application Azure AD et secret client
item-token_generation = Génération de jeton (utilisateur, étendues, durée de vie)
item-mailbox_configuration = Configuration des boîtes aux lettres (SMTP, IMAP, POP3)
item-exchange_license = Licence Exchange
item-mailbox_rights = Droits de boîte aux lettres
item-network_connectivity = Connectivité réseau (URL, DNS, ports, TLS)
item-token_refresh = Actualisation du jeton

## Constats

version-meets = ECE { $version } satisfait à la version minimale { $minimum }.
version-newer = ECE { $version } est plus récent que le tableau du guide : OAuth pour Office 365 y est intégré.
version-below = Il manque à ECE { $version } l'offre spéciale d'ingénierie (ES) requise par OAuth : la version minimale est { $minimum }.
version-too-old = ECE { $version } est antérieur à la première version offrant OAuth pour Office 365 ({ $minimum }).
version-not-in-table = ECE { $version } ne figure pas dans le tableau des versions minimales du guide ; vérifiez la prise en charge d'OAuth dans les notes de version (bogue Cisco CSCvr86493).
urls-match = L'URL externe de l'application et l'URL de redirection utilisent le même hôte, { $host }.
urls-differ = L'hôte de l'URL externe de l'application, { $external }, diffère de celui de l'URL de redirection, { $redirect }.
secret-valid = Le secret client du locataire { $tenant } est valide jusqu'au { $date }.
secret-expires-soon = Le secret client du locataire { $tenant } expire le { $date }, dans { $days ->
    [one] { $days } jour
   *[other] { $days } jours
} : créez-en un nouveau d'ici là.
secret-expired = Le secret client du locataire { $tenant } a expiré le { $date }.
check-not-run = La vérification { $check } n'a pas encore été exécutée.
check-failed = La vérification { $check } ({ $target }) a échoué (motif : `{ $reason }`, phase : `{ $phase }`).
blocked = Non atteint par { $check } : cette vérification a échoué plus tôt ({ $reason }).
port-not-checked = Aucune vérification ne couvre le port { $port } ({ $use ->
    [token] HTTPS vers login.microsoftonline.com, pour les jetons
    [smtp] SMTP avec STARTTLS, pour le répartiteur et les notifications d'alarme
   *[retriever] IMAP ou POP3 sur TLS, pour le récupérateur
}) : ajoutez une vérification tcp, tls ou mail pour ce port.
protocol-not-checked = Aucune vérification { $protocol } authentifiée pour { $mailbox } : ajoutez-en une avec `mailbox:` pour vérifier que le protocole est activé.

## Détails des échecs constatés par l'agent lui-même (le texte d'un serveur est affiché tel quel)

detail-token_wrong_user = Le jeton a été émis pour { $got }, et non pour { $user }.
detail-token_no_user = Le jeton ne nomme aucun utilisateur ; il devrait être émis pour { $user }.
detail-token_audience = Le jeton est destiné à { $audience }, et non à Exchange Online.
detail-token_missing_delegated = Il manque au jeton l'autorisation déléguée { $permissions }.
detail-token_missing_application = Il manque au jeton l'autorisation d'application { $permissions }.
detail-token_expires_before_issued = Le jeton d'accès expire avant d'avoir été émis (sa revendication exp est antérieure à sa revendication iat).
detail-token_lifetime = Le jeton d'accès dure { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
} ; le guide exige au moins 60 minutes.

ok-minimum_version = La vérification { $check } a réussi.
ok-system_configuration = La vérification { $check } a réussi.
ok-azure_ad_application = Le locataire { $tenant } a accepté les informations d'identification de l'application ({ $check }).
ok-token_generation = Le jeton utilisé par { $check } est celui de { $user }, possède les étendues requises et dure { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
}.
ok-mailbox_configuration = { $protocol } accepte XOAUTH2 pour { $mailbox } ({ $check }).
ok-exchange_license = Exchange Online héberge la boîte aux lettres { $mailbox } ({ $check }) ; le guide exige au moins une licence E3.
ok-mailbox_rights = { $model ->
    [shared] Compte partagé : { $user } a accès à { $mailbox } ({ $check }).
   *[own] Compte de boîte aux lettres : { $mailbox } s'ouvre avec son propre compte et son propre jeton ({ $check }).
}
ok-network_connectivity = { $check } a atteint { $target }.
ok-network_connectivity-proxy = { $check } a atteint { $target } via le proxy HTTP { $proxy }.
ok-external_url = L'URL externe de l'application ECE { $target } a répondu à { $check } en HTTPS depuis ce serveur, avec un certificat valide pour son nom.
ok-azure_ad_application-tenant = Le locataire { $tenant } existe : ses métadonnées OpenID sur { $target } indiquent l'annuaire { $tenant_id } ({ $check }). Seule une vérification de jeton montre que les informations d'identification de l'application sont acceptées.
ok-token_refresh = { $check } dispose d'un jeton d'accès valide pour { $user }, actualisé avec les informations d'identification enregistrées.

why-minimum_version = Non vérifié : ajoutez `ece.version` à la configuration (par ex. `12.5(1) ES3`, comme sur la page À propos d'ECE).
why-system_configuration = Non vérifié : ajoutez à la configuration `ece.external_url` (l'« URL externe de l'application » d'ECE) et `ece.redirect_uri` (l'URL de redirection de l'inscription d'application).
why-azure_ad_application = Non vérifié : aucun locataire n'est configuré avec une vérification de locataire, une vérification de jeton ou une vérification de messagerie authentifiée ({ $tenants ->
    [one] { $tenants } locataire
   *[other] { $tenants } locataires
}, { $mailboxes ->
    [one] { $mailboxes } boîte aux lettres
   *[other] { $mailboxes } boîtes aux lettres
}).
why-token_generation = Non vérifié : aucune boîte aux lettres avec informations d'identification n'est configurée, aucun jeton n'a donc été examiné ({ $mailboxes ->
    [one] { $mailboxes } boîte aux lettres
   *[other] { $mailboxes } boîtes aux lettres
}).
why-mailbox_configuration = Non vérifié : aucune vérification de messagerie avec `mailbox:` n'est configurée ({ $mailboxes ->
    [one] { $mailboxes } boîte aux lettres
   *[other] { $mailboxes } boîtes aux lettres
}).
why-exchange_license = Non vérifié : seule une vérification IMAP, POP3 ou SMTP authentifiée montre qu'Exchange Online héberge la boîte aux lettres ; la licence elle-même se consulte dans le Centre d'administration Microsoft 365.
why-mailbox_rights = Non vérifié : aucune vérification de messagerie avec `mailbox:` n'est configurée ({ $mailboxes ->
    [one] { $mailboxes } boîte aux lettres
   *[other] { $mailboxes } boîtes aux lettres
}).
why-network_connectivity = Non vérifié : aucune vérification DNS, TCP, TLS ou de messagerie n'est configurée.
why-token_refresh = Non vérifié : aucune vérification `kind: token` ni vérification de messagerie authentifiée n'est configurée ({ $mailboxes ->
    [one] { $mailboxes } boîte aux lettres
   *[other] { $mailboxes } boîtes aux lettres
}).

## Solutions pour la configuration

remedy-version-below = Installez l'offre spéciale d'ingénierie (ES) de votre version ({ $minimum }) ou une ES ultérieure, puis suivez la documentation OAuth de cette version. La meilleure pratique consiste à installer la dernière ES.
remedy-version-too-old = Mettez à niveau ECE vers une version offrant OAuth pour Office 365 ({ $minimum } ou ultérieure).
remedy-urls-differ = Le nom de domaine complet (FQDN) de l'URL de redirection doit correspondre à l'URL externe de l'application d'ECE et être le nom utilisé pour ouvrir la console d'administration : corrigez l'une des deux (inscription d'application Azure AD > Authentification, ou dans ECE Partition > Apps > General Settings), puis générez à nouveau le jeton.
remedy-secret-expired = Créez un nouveau secret client dans l'inscription d'application (Certificats et secrets), mettez-le à jour là où ECE et cet agent le lisent (locataire { $tenant }) et renseignez `client_secret_expires`.

## Solutions aux échecs de vérification, par motif

remedy-dns_nxdomain = Le nom { $host } n'existe pas pour le résolveur de ce serveur : vérifiez l'orthographe, et que le serveur DNS (ou le DNS split-horizon) résout les noms d'Office 365 (*.office365.com, login.microsoftonline.com).
remedy-dns_servfail = Le serveur DNS n'a pas su répondre pour { $host } : vérifiez le résolveur et ses redirecteurs, depuis ce serveur.
remedy-dns_refused = Le serveur DNS a refusé la requête pour { $host } : autorisez ce serveur à l'utiliser ou configurez un autre résolveur.
remedy-dns_no_answer = Le nom { $host } existe mais n'a aucun enregistrement du type demandé : vérifiez le type d'enregistrement de la vérification et la zone DNS.
remedy-dns_timeout = Aucune réponse DNS à temps pour { $host } : vérifiez que le port UDP/TCP 53 vers le résolveur est ouvert depuis ce serveur.
remedy-dns_error = La réponse DNS pour { $host } est inexploitable : vérifiez le résolveur ; essayez `nslookup { $host }` depuis ce serveur.
remedy-resolve_failed = Ce serveur n'a pas pu résoudre { $host } : vérifiez ses paramètres DNS et le fichier hosts.
remedy-connect_refused = { $target } a refusé la connexion : un élément du chemin (pare-feu ou proxy) rejette le port { $port } ; ouvrez-le depuis ce serveur.
remedy-connect_timeout = Aucune réponse de { $target } : un pare-feu bloque le port { $port }. Ouvrez le port TCP { $port } en sortie depuis ce serveur (guide : Ports).
remedy-network_unreachable = Ce serveur n'a pas de route vers { $target } : vérifiez la passerelle par défaut, l'architecture du proxy et le routage sortant.
remedy-proxy_connect_failed = C'est le proxy HTTP sur le chemin de { $target } qui a échoué, pas Microsoft : il est injoignable, a fermé la connexion ou n'a pas répondu à CONNECT en HTTP. Vérifiez l'adresse et le port du proxy dans `proxy:` (ou HTTPS_PROXY), et que le service du proxy fonctionne et est joignable depuis ce serveur.
remedy-proxy_auth_required = Le proxy HTTP sur le chemin de { $target } exige une authentification (407) : renseignez `proxy_user` et `proxy_password` (env:NOM ou file:CHEMIN) à côté de `proxy:`, vérifiez que le compte n'est ni verrouillé ni expiré, et que le proxy accepte l'authentification Basic.
remedy-proxy_denied = Le proxy HTTP a refusé le tunnel vers { $target } (son code de statut figure dans le détail), pas Microsoft : demandez aux administrateurs du proxy d'autoriser CONNECT depuis ce serveur vers { $host }, port { $port }.
remedy-local_resource_exhausted = Ce serveur, et non le réseau, a manqué de descripteurs de fichiers ou de tampons de socket en vérifiant { $target } : augmentez la limite de fichiers ouverts de l'agent (`LimitNOFILE=` de systemd, `ulimit -n`), cherchez un processus qui laisse fuir des sockets et comparez avec `ss -s`.
remedy-tls_handshake_failed = La négociation TLS avec { $target } a échoué : un proxy ou un pare-feu intercepte ou bloque peut-être TLS ; exemptez les hôtes Office 365 de l'inspection TLS.
remedy-tls_version_unsupported = { $target } ne prend en charge que TLS 1.0 ou 1.1 : Office 365 exige TLS 1.2, c'est donc un ancien proxy ou répartiteur de charge qui répond à la place de Microsoft ; contournez-le pour cet hôte ou mettez-le à niveau.
remedy-tls_cert_expired = Le certificat présenté par { $target } a expiré : s'il n'est pas de Microsoft, un équipement d'inspection TLS se trouve sur le chemin ; exemptez l'hôte ou renouvelez son certificat.
remedy-tls_cert_not_yet_valid = Le certificat n'est pas encore valide : vérifiez d'abord l'horloge de ce serveur (NTP).
remedy-tls_cert_untrusted = Le certificat de { $target } n'est pas approuvé : il s'agit généralement de l'inspection TLS d'un proxy d'entreprise. Exemptez *.office365.com et login.microsoftonline.com de l'inspection, ou ajoutez l'autorité de certification (CA) du proxy avec `extra_ca_file` (ainsi qu'au magasin de confiance Java d'ECE).
remedy-tls_cert_name_mismatch = Le certificat de { $target } est émis pour un autre nom : vérifiez le nom d'hôte de la cible, ou cherchez un proxy qui répond à sa place.
remedy-tls_unexpected_issuer = Le certificat de { $target } provient d'un émetteur inattendu : une inspection TLS se trouve sur le chemin. Exemptez l'hôte de l'inspection ou mettez à jour `expected_issuer`.
remedy-timeout = { $target } n'a pas terminé à temps : recherchez un proxy lent ou des pertes de paquets sur le chemin, puis n'augmentez `timeout` que si le chemin est connu pour être lent.
remedy-connection_closed = { $target } a fermé la connexion prématurément : un pare-feu ou un proxy coupe peut-être la session ; consultez ses journaux pour ce serveur.
remedy-line_too_long = { $target } a envoyé une ligne sans fin : ce n'est pas un serveur de messagerie Exchange Online ; vérifiez la cible et le proxy.
remedy-too_many_lines = { $target } a envoyé une réponse sans fin : ce n'est pas un serveur de messagerie Exchange Online ; vérifiez la cible et le proxy.
remedy-reply_too_large = { $target } a envoyé une réponse plus grande que celle d'aucun serveur de messagerie : ce n'est pas un serveur de messagerie Exchange Online ; vérifiez la cible et le proxy.
remedy-unexpected_reply = { $target } a répondu de façon inattendue : vérifiez que la cible utilise le protocole de la vérification (ports 587, 993, 995) et qu'aucun proxy ne le réécrit.
remedy-greeting_rejected = { $target } a refusé la session dès son message d'accueil : le serveur bloque peut-être cette adresse source ; consultez la réponse ci-dessous.
remedy-starttls_not_offered = { $target } n'a pas proposé STARTTLS : un équipement sur le chemin le supprime peut-être (inspection SMTP d'un pare-feu) ; désactivez cette inspection pour le port 587.
remedy-starttls_rejected = { $target } a refusé STARTTLS : consultez la réponse ci-dessous et vérifiez tout proxy SMTP sur le chemin.
remedy-http_unexpected_status = { $target } a répondu avec un statut HTTP que la vérification n'attend pas (le statut et, pour une redirection, l'hôte visé figurent dans le détail) : vérifiez l'URL et `expect_status` ; une redirection vers une page de connexion ou de blocage signale un proxy ou un filtre sur le chemin.
remedy-http_bad_response = { $target } a répondu avec autre chose qu'une réponse HTTP exploitable (pas du HTTP, en-têtes trop grands, corps mal formé) : souvent un proxy ou un boîtier d'inspection TLS sur le chemin ; comparez avec `curl -v` depuis ce serveur.
remedy-auth_mechanism_not_offered = { $target } ne propose pas XOAUTH2 : assurez-vous que la cible est Exchange Online (smtp.office365.com, outlook.office365.com) et que SMTP AUTH est activé pour l'organisation.
remedy-auth_rejected = Exchange a refusé le jeton pour { $mailbox } : activez { $protocol } pour cette boîte aux lettres dans le Centre d'administration Exchange (Boîtes aux lettres > Gérer les applications de messagerie), et assurez-vous que le jeton appartient à { $user }.
remedy-auth_rejected-shared = Exchange a refusé { $user } sur { $mailbox } : donnez à { $user } le contrôle total de la boîte aux lettres (autorisation Accès total ; guide : Droits de boîte aux lettres, compte partagé) et activez { $protocol } pour la boîte aux lettres dans le Centre d'administration Exchange.
remedy-smtp_auth_disabled = { $hint ->
    [smtp_auth_tenant] SMTP AUTH est désactivé pour toute l'organisation (Exchange : « SmtpClientAuthentication is disabled for the Tenant ») : activez-le pour l'organisation dans le Centre d'administration Microsoft 365 (Paramètres > Paramètres de l'organisation > Courrier, ou `Set-TransportConfig -SmtpClientAuthenticationDisabled $false`), ou activez « SMTP authentifié » pour { $mailbox } seule dans le Centre d'administration Exchange (Gérer les applications de messagerie), ce qui prime sur le paramètre de l'organisation.
    [smtp_auth_mailbox] SMTP AUTH est désactivé pour { $mailbox } (Exchange : « SmtpClientAuthentication is disabled for the Mailbox ») : activez « SMTP authentifié » pour la boîte aux lettres dans le Centre d'administration Exchange (Boîtes aux lettres > Gérer les applications de messagerie), ou exécutez `Set-CASMailbox { $mailbox } -SmtpClientAuthenticationDisabled $false`.
    [security_defaults] Les paramètres de sécurité par défaut de Microsoft Entra ID bloquent SMTP AUTH pour { $user } (Exchange : « locked by your organization's security defaults policy ») : désactivez les paramètres de sécurité par défaut du locataire { $tenant } (Centre d'administration Microsoft Entra > Vue d'ensemble > Propriétés > Gérer les paramètres de sécurité par défaut) et protégez plutôt les connexions par l'accès conditionnel.
   *[other] SMTP AUTH est désactivé pour { $mailbox } : activez « SMTP authentifié » pour la boîte aux lettres dans le Centre d'administration Exchange (Gérer les applications de messagerie), et vérifiez que l'organisation ne le désactive pas.
}
remedy-mailbox_not_found = Exchange a accepté la connexion mais n'a trouvé aucune boîte aux lettres pour { $mailbox } : vérifiez que le compte dispose d'une licence Exchange Online (au moins E3) et d'une boîte aux lettres.
remedy-mailbox_not_found-shared = { $user } s'est connecté mais ne peut pas ouvrir { $mailbox } : donnez à { $user } le contrôle total de la boîte aux lettres (autorisation Accès total), ou vérifiez l'adresse de la boîte aux lettres.
remedy-mailbox_rights_missing = Exchange a accepté le jeton du compte { $user } mais ne lui donne aucun accès à { $mailbox } (guide : Droits de boîte aux lettres) : donnez à { $user } le contrôle total de la boîte aux lettres (`Add-MailboxPermission -Identity { $mailbox } -User { $user } -AccessRights FullAccess`) ; pour le jeton d'une application (informations d'identification du client), accordez le même droit à son principal de service avec `Add-MailboxPermission` après `New-ServicePrincipal`.
remedy-send_as_denied = Exchange ne permet pas à { $user } d'envoyer en tant que { $mailbox } (SendAsDenied, guide : Droits de boîte aux lettres) : donnez à { $user } l'autorisation Envoyer en tant que sur la boîte aux lettres (Centre d'administration Exchange > Boîtes aux lettres > { $mailbox } > Délégation > Envoyer en tant que, ou `Add-RecipientPermission { $mailbox } -AccessRights SendAs -Trustee { $user }`), en plus du contrôle total.
remedy-sender_blocked = Exchange a bloqué l'envoi pour { $user } (« Access denied, bad outbound sender ») : Microsoft a restreint le compte après avoir détecté du courrier indésirable sortant. Sécurisez le compte, débloquez-le ensuite dans le portail Microsoft Defender (Courrier et collaboration > Révision > Entités restreintes), et cherchez ce qui a envoyé ce courrier.
remedy-sending_limit_reached = { $mailbox } a atteint une limite d'envoi d'Exchange Online (destinataires par jour, messages par minute ou quota de soumission) : attendez que la limite se réinitialise (jusqu'à 24 heures) et réduisez ce qu'ECE et les autres applications envoient par cette boîte aux lettres ; voir les limites d'Exchange Online.
remedy-recipient_rejected = Exchange a refusé le destinataire du message de test : vérifiez l'adresse à laquelle la vérification envoie, et les règles de transport ou connecteurs qui restreignent les destinataires de { $mailbox }.
remedy-submission_deferred = Exchange a différé le message avec une erreur temporaire (4xx), en général parce que le service est surchargé ou limite l'expéditeur : si cela dure, consultez l'état du service dans le Centre d'administration Microsoft 365 et les limites d'envoi de { $mailbox }.
remedy-message_not_delivered = Exchange a accepté le message de test envoyé en tant que { $mailbox }, mais il n'est pas arrivé dans la boîte de test avant le délai de la vérification (guide : Configuration des boîtes aux lettres) : recherchez le message dans le suivi des messages d'Exchange (Centre d'administration Exchange > Flux de messagerie > Suivi des messages, objet et Message-ID dans le journal de l'agent), et vérifiez les règles de transport, la quarantaine et le dossier Courrier indésirable de la boîte de test ; si le courrier arrive seulement en retard, augmentez le `timeout` de la vérification.
remedy-cleanup_failed = Le message de test est arrivé, mais la vérification n'a pas pu le supprimer de la boîte de test (guide : Droits de boîte aux lettres) : vérifiez que le compte du jeton de la boîte de test a un accès complet à sa boîte de réception et que le serveur propose UIDPLUS ; l'exécution suivante supprime les restes.
remedy-token_endpoint_unreachable = Le point de terminaison de jeton est injoignable : ouvrez HTTPS (443) vers login.microsoftonline.com depuis ce serveur, et renseignez `proxy` pour le locataire { $tenant } si un proxy est nécessaire.
remedy-token_endpoint_timeout = Le point de terminaison de jeton n'a pas répondu à temps : un élément sur le chemin vers login.microsoftonline.com (un proxy, un équipement d'inspection TLS, un pare-feu qui accepte puis abandonne) retient la requête ; vérifiez le chemin depuis ce serveur et `proxy` pour le locataire { $tenant }. L'agent réessaie après un délai.
remedy-token_bad_response = Le point de terminaison de jeton a renvoyé autre chose qu'une réponse de jeton, souvent une page de proxy : exemptez login.microsoftonline.com du proxy ou renseignez correctement `proxy`.
remedy-token_invalid_grant = Le jeton d'actualisation de { $user } a été refusé (révoqué, mot de passe modifié ou émis pour une autre application) : générez-le à nouveau depuis une fenêtre de navigateur en mode incognito ou privé, connecté en tant que { $user }.
remedy-token_refresh_token_expired = Le jeton d'actualisation de { $user } a expiré après 90 jours sans utilisation : générez-le à nouveau depuis une fenêtre de navigateur en mode incognito ou privé, connecté en tant que { $user }.
remedy-token_invalid_client = Azure AD a refusé les informations d'identification de l'application : vérifiez l'ID client et le secret client du locataire { $tenant } (la valeur du secret, pas son ID).
remedy-token_client_secret_expired = Le secret client du locataire { $tenant } a expiré : créez-en un nouveau dans l'inscription d'application (Certificats et secrets) et mettez à jour `client_secret`.
remedy-token_consent_required = L'application n'a pas le consentement administrateur pour les autorisations de messagerie : accordez le consentement administrateur dans l'inscription d'application (Autorisations d'API) pour le locataire { $tenant }.
remedy-token_interaction_required = Azure AD demande à { $user } de se reconnecter (MFA ou accès conditionnel) : générez à nouveau le jeton depuis une fenêtre de navigateur en mode incognito ou privé, et excluez le compte de service des stratégies qui exigent une interaction.
remedy-token_unknown_tenant = Le locataire { $tenant } est inconnu d'Azure AD : vérifiez `tenant_id` (ID de l'annuaire ou domaine) et l'autorité.
remedy-token_unknown_client = L'application est introuvable dans le locataire { $tenant } : vérifiez `client_id` et que l'inscription d'application existe dans ce locataire.
remedy-token_throttled = Azure AD limite les demandes de jeton : l'agent espace ses tentatives ; si cela persiste, réduisez le nombre de vérifications de jeton ou augmentez leur intervalle.
remedy-token_wrong_user = Le jeton a été émis pour un autre utilisateur que { $user } : générez-le à nouveau depuis une fenêtre de navigateur en mode incognito ou privé, connecté en tant que { $user } (guide : Génération de jeton).
remedy-token_missing_scope = Le jeton n'a pas l'autorisation { $protocol } : ajoutez l'autorisation déléguée (IMAP.AccessAsUser.All, POP.AccessAsUser.All ou SMTP.Send) à l'inscription d'application, accordez le consentement et générez à nouveau le jeton.
remedy-token_lifetime_too_short = Le jeton d'accès dure moins de 60 minutes : supprimez la stratégie de durée de vie des jetons qui le raccourcit (guide : Application Azure AD, jeton d'accès).
remedy-token_store_unwritable = L'agent ne peut pas enregistrer le jeton d'actualisation renouvelé : vérifiez les autorisations et l'espace libre du répertoire du magasin de jetons.
remedy-internal = L'agent a rencontré une erreur interne : consultez son journal pour { $check } et signalez l'erreur avec la ligne du journal.
