# Español: traducción de en.ftl. Los términos siguen la guía de Cisco en español
# "Solucionar problemas de autenticación ECE OAUTH2 con Office 365".

## Marco del informe

report-title = ECE y Office 365: elementos de la lista de comprobación de la guía de solución de problemas
report-role = Función del servidor: { $role ->
    [services] servidor de servicios
    [application] servidor de aplicaciones
   *[both] servidor de servicios y servidor de aplicaciones
}
report-summary = Correctos: { $passed }, fallidos: { $failed }, no comprobados: { $not_checked }.
status-passed = CORRECTO
status-failed = FALLIDO
status-not_checked = NO COMPROBADO
label-evidence = Hallazgo
label-remedy = Qué hacer
label-reply = Detalle
label-ids = Identificadores de Microsoft
evidence-proxy = Proxy HTTP en la ruta: { $proxy }
page-checks-run = Se { $ran ->
    [one] ha
   *[other] han
} ejecutado { $ran } de { $configured } { $configured ->
    [one] comprobación
   *[other] comprobaciones
}.
page-metrics = Métricas
report-item = { $n }. { $title }: { $status }
report-labelled = { $label }: { $value }

## Los elementos de comprobación de la guía

item-minimum_version = Versión mínima
item-system_configuration = Configuración del sistema (URL externa de la aplicación y URL de redirección)
item-azure_ad_application = Aplicación de Azure AD y secreto de cliente
item-token_generation = Generación de tokens (usuario, ámbitos, duración)
item-mailbox_configuration = Configuración del buzón (SMTP, IMAP, POP3)
item-exchange_license = Licencia de Exchange
item-mailbox_rights = Derechos de buzón
item-network_connectivity = Conectividad de red (URL, DNS, puertos, TLS)
item-token_refresh = Actualización del token

## Resultados

version-meets = ECE { $version } cumple la versión mínima { $minimum }.
version-newer = ECE { $version } es más reciente que la tabla de la guía: OAuth para Office 365 viene integrado.
version-below = A ECE { $version } le falta el especial de ingeniería (ES) que necesita OAuth: la versión mínima es { $minimum }.
version-too-old = ECE { $version } es anterior a la primera versión con OAuth para Office 365 ({ $minimum }).
version-not-in-table = ECE { $version } no figura en la tabla de versiones mínimas de la guía; consulte en las notas de la versión si admite OAuth (error de Cisco CSCvr86493).
urls-match = La URL externa de la aplicación y la URL de redirección usan el mismo host, { $host }.
urls-differ = El host de la URL externa de la aplicación, { $external }, es distinto del host de la URL de redirección, { $redirect }.
secret-valid = El secreto de cliente del inquilino { $tenant } es válido hasta el { $date }.
secret-expires-soon = El secreto de cliente del inquilino { $tenant } caduca el { $date }, dentro de { $days ->
    [one] { $days } día
   *[other] { $days } días
}: cree uno nuevo antes de esa fecha.
secret-expired = El secreto de cliente del inquilino { $tenant } caducó el { $date }.
check-not-run = La comprobación { $check } aún no se ha ejecutado.
check-failed = La comprobación { $check } ({ $target }) falló (motivo: `{ $reason }`, fase: `{ $phase }`).
blocked = La comprobación { $check } no llegó hasta aquí: falló antes ({ $reason }).
port-not-checked = Ninguna comprobación cubre el puerto { $port } ({ $use ->
    [token] HTTPS a login.microsoftonline.com, para los tokens
    [smtp] SMTP con STARTTLS, para el despachador y las notificaciones de alarma
   *[retriever] IMAP o POP3 sobre TLS, para el recuperador
}): agregue una comprobación tcp, tls o mail para él.
protocol-not-checked = No hay ninguna comprobación autenticada de { $protocol } para { $mailbox }: agregue una con `mailbox:` para comprobar que el protocolo está habilitado.

## Detalles de los fallos que detectó el propio agente (el texto de un servidor se muestra tal cual)

detail-token_wrong_user = El token se emitió para { $got }, no para { $user }.
detail-token_no_user = El token no indica ningún usuario; debería emitirse para { $user }.
detail-token_audience = El token está destinado a { $audience }, no a Exchange Online.
detail-token_missing_delegated = Al token le falta el permiso delegado { $permissions }.
detail-token_missing_application = Al token le falta el permiso de aplicación { $permissions }.
detail-token_expires_before_issued = El token de acceso caduca antes de haberse emitido (su notificación exp es anterior a su notificación iat).
detail-token_lifetime = El token de acceso dura { $minutes ->
    [one] { $minutes } minuto
   *[other] { $minutes } minutos
}; la guía exige al menos 60 minutos.

ok-minimum_version = La comprobación { $check } fue correcta.
ok-system_configuration = La comprobación { $check } fue correcta.
ok-azure_ad_application = El inquilino { $tenant } aceptó las credenciales de la aplicación ({ $check }).
ok-token_generation = El token que usa { $check } es de { $user }, tiene los ámbitos necesarios y dura { $minutes ->
    [one] { $minutes } minuto
   *[other] { $minutes } minutos
}.
ok-mailbox_configuration = { $protocol } acepta XOAUTH2 para { $mailbox } ({ $check }).
ok-exchange_license = Exchange Online aloja el buzón { $mailbox } ({ $check }); la guía exige al menos una licencia E3.
ok-mailbox_rights = { $model ->
    [shared] Cuenta compartida: { $user } tiene acceso a { $mailbox } ({ $check }).
   *[own] Cuenta de buzón: { $mailbox } se abre con su propia cuenta y su propio token ({ $check }).
}
ok-network_connectivity = { $check } se conectó a { $target }.
ok-network_connectivity-proxy = { $check } se conectó a { $target } a través del proxy HTTP { $proxy }.
ok-external_url = La URL externa de la aplicación de ECE { $target } respondió a { $check } por HTTPS desde este servidor, con un certificado válido para su nombre.
ok-azure_ad_application-tenant = El inquilino { $tenant } existe: sus metadatos OpenID en { $target } indican el directorio { $tenant_id } ({ $check }). Solo una comprobación de token muestra que se aceptan las credenciales de la aplicación.
ok-token_refresh = { $check } tiene un token de acceso válido para { $user }, actualizado con las credenciales almacenadas.

why-minimum_version = No comprobado: agregue `ece.version` a la configuración (p. ej., `12.5(1) ES3`, como en la página Acerca de de ECE).
why-system_configuration = No comprobado: agregue a la configuración `ece.external_url` (el «URL externo de la aplicación» de ECE) y `ece.redirect_uri` (la URL de redirección del registro de aplicaciones).
why-azure_ad_application = No comprobado: no hay ningún inquilino configurado con una comprobación de inquilino, una comprobación de token o una comprobación de correo autenticada ({ $tenants ->
    [one] { $tenants } inquilino
   *[other] { $tenants } inquilinos
}, { $mailboxes ->
    [one] { $mailboxes } buzón
   *[other] { $mailboxes } buzones
}).
why-token_generation = No comprobado: no hay ningún buzón configurado con credenciales, por lo que no se examinó ningún token ({ $mailboxes ->
    [one] { $mailboxes } buzón
   *[other] { $mailboxes } buzones
}).
why-mailbox_configuration = No comprobado: no hay configurada ninguna comprobación de correo con `mailbox:` ({ $mailboxes ->
    [one] { $mailboxes } buzón
   *[other] { $mailboxes } buzones
}).
why-exchange_license = No comprobado: solo una comprobación autenticada de IMAP, POP3 o SMTP demuestra que Exchange Online aloja el buzón; la licencia en sí se consulta en el Centro de administración de Microsoft 365.
why-mailbox_rights = No comprobado: no hay configurada ninguna comprobación de correo con `mailbox:` ({ $mailboxes ->
    [one] { $mailboxes } buzón
   *[other] { $mailboxes } buzones
}).
why-network_connectivity = No comprobado: no hay configurada ninguna comprobación de DNS, TCP, TLS ni de correo.
why-token_refresh = No comprobado: no hay configurada ninguna comprobación `kind: token` ni comprobación de correo autenticada ({ $mailboxes ->
    [one] { $mailboxes } buzón
   *[other] { $mailboxes } buzones
}).

## Soluciones para la configuración

remedy-version-below = Instale el especial de ingeniería (ES) de su versión ({ $minimum }) o uno posterior y, a continuación, siga la documentación de OAuth de esa versión. Se recomienda instalar el ES más reciente.
remedy-version-too-old = Actualice ECE a una versión con OAuth para Office 365 ({ $minimum } o posterior).
remedy-urls-differ = El FQDN de la URL de redirección debe coincidir con la URL externa de la aplicación de ECE y ser el nombre que se usa para abrir la consola de administración: corrija uno de los dos (registro de aplicaciones de Azure AD > Autenticación, o en ECE Partición > Aplicaciones > Configuración general) y vuelva a generar el token.
remedy-secret-expired = Cree un nuevo secreto de cliente en el registro de aplicaciones (Certificados y secretos), actualícelo donde lo leen ECE y este agente (inquilino { $tenant }) y configure `client_secret_expires`.

## Soluciones para los fallos de las comprobaciones, por motivo

remedy-dns_nxdomain = El nombre { $host } no existe para el resolvedor de este servidor: compruebe la ortografía y que el servidor DNS (o el DNS de horizonte dividido) resuelva los nombres de Office 365 (*.office365.com, login.microsoftonline.com).
remedy-dns_servfail = El servidor DNS no pudo responder para { $host }: compruebe el resolvedor y sus reenviadores desde este servidor.
remedy-dns_refused = El servidor DNS rechazó la consulta para { $host }: permita que este servidor lo use o configure otro resolvedor.
remedy-dns_no_answer = El nombre { $host } existe, pero no tiene ningún registro del tipo solicitado: compruebe el tipo de registro de la comprobación y la zona DNS.
remedy-dns_timeout = No llegó a tiempo ninguna respuesta DNS para { $host }: compruebe que el puerto UDP/TCP 53 hacia el resolvedor esté abierto desde este servidor.
remedy-dns_error = No se pudo usar la respuesta DNS para { $host }: compruebe el resolvedor; pruebe `nslookup { $host }` desde este servidor.
remedy-resolve_failed = Este servidor no pudo resolver { $host }: compruebe su configuración DNS y el archivo hosts.
remedy-connect_refused = { $target } rechazó la conexión: algo en la ruta (un firewall o un proxy) rechaza el puerto { $port }; ábralo desde este servidor.
remedy-connect_timeout = Sin respuesta de { $target }: un firewall descarta el tráfico hacia el puerto { $port }. Abra el puerto TCP { $port } de salida desde este servidor (guía: Puertos).
remedy-network_unreachable = Este servidor no tiene ruta hacia { $target }: compruebe la puerta de enlace predeterminada, el diseño del proxy y el enrutamiento de salida.
remedy-proxy_connect_failed = Falló el proxy HTTP en el camino hacia { $target }, no Microsoft: es inalcanzable, cerró la conexión o no respondió a CONNECT en HTTP. Compruebe la dirección y el puerto del proxy en `proxy:` (o HTTPS_PROXY) y que el servicio del proxy esté en marcha y sea accesible desde este servidor.
remedy-proxy_auth_required = El proxy HTTP en el camino hacia { $target } exige autenticación (407): configure `proxy_user` y `proxy_password` (env:NOMBRE o file:RUTA) junto a `proxy:`, compruebe que la cuenta no esté bloqueada ni caducada y que el proxy acepte la autenticación Basic.
remedy-proxy_denied = El proxy HTTP rechazó el túnel hacia { $target } (su código de estado figura en el detalle), no Microsoft: pida a los administradores del proxy que permitan CONNECT desde este servidor hacia { $host }, puerto { $port }.
remedy-local_resource_exhausted = Este servidor, no la red, se quedó sin descriptores de archivo o búferes de socket al comprobar { $target }: aumente el límite de archivos abiertos del agente (`LimitNOFILE=` de systemd, `ulimit -n`), busque un proceso que pierda sockets y compárelo con `ss -s`.
remedy-tls_handshake_failed = El protocolo de enlace TLS con { $target } falló: puede que un proxy o un firewall intercepte o bloquee TLS; excluya los hosts de Office 365 de la inspección TLS.
remedy-tls_version_unsupported = { $target } solo admite TLS 1.0 o 1.1: Office 365 exige TLS 1.2, así que responde un proxy o equilibrador de carga antiguo en lugar de Microsoft; evítelo para este host o actualícelo.
remedy-tls_cert_expired = El certificado que presentó { $target } ha caducado: si no es de Microsoft, hay un dispositivo de inspección TLS en la ruta; excluya el host o renueve su certificado.
remedy-tls_cert_not_yet_valid = El certificado aún no es válido: compruebe primero el reloj de este servidor (NTP).
remedy-tls_cert_untrusted = El certificado de { $target } no es de confianza: normalmente se debe a la inspección TLS de un proxy corporativo. Excluya *.office365.com y login.microsoftonline.com de la inspección o agregue la CA del proxy con `extra_ca_file` (y al almacén de confianza de Java de ECE).
remedy-tls_cert_name_mismatch = El certificado de { $target } es para otro nombre: compruebe el nombre de host del destino o si un proxy responde en su lugar.
remedy-tls_unexpected_issuer = El certificado de { $target } procede de un emisor inesperado: hay inspección TLS en la ruta. Excluya el host de la inspección o actualice `expected_issuer`.
remedy-timeout = { $target } no terminó a tiempo: busque un proxy lento o pérdida de paquetes en la ruta y aumente `timeout` solo si se sabe que la ruta es lenta.
remedy-connection_closed = { $target } cerró la conexión antes de tiempo: puede que un firewall o un proxy corte la sesión; revise sus registros para este servidor.
remedy-line_too_long = { $target } envió una línea interminable: no es un servidor de correo de Exchange Online; compruebe el destino y el proxy.
remedy-too_many_lines = { $target } envió una respuesta interminable: no es un servidor de correo de Exchange Online; compruebe el destino y el proxy.
remedy-reply_too_large = { $target } envió una respuesta más grande que la de cualquier servidor de correo: no es un servidor de correo de Exchange Online; compruebe el destino y el proxy.
remedy-unexpected_reply = { $target } respondió algo inesperado: compruebe que el destino usa el protocolo de la comprobación (puertos 587, 993, 995) y que ningún proxy lo reescribe.
remedy-greeting_rejected = { $target } rechazó la sesión en su saludo: puede que el servidor bloquee esta dirección de origen; consulte la respuesta a continuación.
remedy-starttls_not_offered = { $target } no ofreció STARTTLS: puede que un dispositivo en la ruta lo elimine (inspección SMTP en un firewall); desactive esa inspección para el puerto 587.
remedy-starttls_rejected = { $target } rechazó STARTTLS: consulte la respuesta a continuación y revise cualquier proxy SMTP en la ruta.
remedy-http_unexpected_status = { $target } respondió con un estado HTTP que la comprobación no espera (el estado y, en una redirección, el host al que apunta figuran en el detalle): revise la URL y `expect_status`; una redirección a una página de inicio de sesión o de bloqueo indica un proxy o filtro en la ruta.
remedy-http_bad_response = { $target } respondió con algo que no es una respuesta HTTP utilizable (no es HTTP, encabezados demasiado grandes, cuerpo roto): suele deberse a un proxy o a un equipo de inspección TLS en la ruta; compárelo con `curl -v` desde este servidor.
remedy-auth_mechanism_not_offered = { $target } no ofrece XOAUTH2: asegúrese de que el destino sea Exchange Online (smtp.office365.com, outlook.office365.com) y de que SMTP AUTH esté habilitado para la organización.
remedy-auth_rejected = Exchange rechazó el token para { $mailbox }: habilite { $protocol } para este buzón en el Centro de administración de Exchange (Buzones > Administrar aplicaciones de correo electrónico) y asegúrese de que el token pertenezca a { $user }.
remedy-auth_rejected-shared = Exchange rechazó a { $user } en { $mailbox }: otorgue a { $user } control total del buzón (permiso Acceso total; guía: Derechos de buzón, cuenta compartida) y habilite { $protocol } para el buzón en el Centro de administración de Exchange.
remedy-smtp_auth_disabled = { $hint ->
    [smtp_auth_tenant] SMTP AUTH está deshabilitado para toda la organización (Exchange: «SmtpClientAuthentication is disabled for the Tenant»): habilítelo para la organización en el Centro de administración de Microsoft 365 (Configuración > Configuración de la organización > Correo, o `Set-TransportConfig -SmtpClientAuthenticationDisabled $false`), o habilite «SMTP autenticado» solo para { $mailbox } en el Centro de administración de Exchange (Administrar aplicaciones de correo electrónico), lo que prevalece sobre la configuración de la organización.
    [smtp_auth_mailbox] SMTP AUTH está deshabilitado para { $mailbox } (Exchange: «SmtpClientAuthentication is disabled for the Mailbox»): habilite «SMTP autenticado» para el buzón en el Centro de administración de Exchange (Buzones > Administrar aplicaciones de correo electrónico), o ejecute `Set-CASMailbox { $mailbox } -SmtpClientAuthenticationDisabled $false`.
    [security_defaults] Los valores predeterminados de seguridad de Microsoft Entra ID bloquean SMTP AUTH para { $user } (Exchange: «locked by your organization's security defaults policy»): deshabilite los valores predeterminados de seguridad del inquilino { $tenant } (Centro de administración de Microsoft Entra > Información general > Propiedades > Administrar valores predeterminados de seguridad) y proteja los inicios de sesión con acceso condicional.
   *[other] SMTP AUTH está deshabilitado para { $mailbox }: habilite «SMTP autenticado» para el buzón en el Centro de administración de Exchange (Administrar aplicaciones de correo electrónico) y compruebe que la organización no lo deshabilita.
}
remedy-mailbox_not_found = Exchange aceptó el inicio de sesión, pero no encontró ningún buzón para { $mailbox }: compruebe que la cuenta tenga una licencia de Exchange Online (al menos E3) y un buzón.
remedy-mailbox_not_found-shared = { $user } inició sesión, pero no puede abrir { $mailbox }: otorgue a { $user } control total del buzón (permiso Acceso total) o compruebe la dirección del buzón.
remedy-mailbox_rights_missing = Exchange aceptó el token de { $user }, pero no le da acceso a { $mailbox } (guía: Derechos de buzón): otorgue a { $user } control total del buzón (`Add-MailboxPermission -Identity { $mailbox } -User { $user } -AccessRights FullAccess`); con el token de una aplicación (credenciales de cliente), otorgue lo mismo a la entidad de servicio de la aplicación con `Add-MailboxPermission` después de `New-ServicePrincipal`.
remedy-send_as_denied = Exchange no permite que { $user } envíe como { $mailbox } (SendAsDenied, guía: Derechos de buzón): otorgue a { $user } el permiso Enviar como en el buzón (Centro de administración de Exchange > Buzones > { $mailbox } > Delegación > Enviar como, o `Add-RecipientPermission { $mailbox } -AccessRights SendAs -Trustee { $user }`), además del control total.
remedy-sender_blocked = Exchange ha bloqueado el envío de { $user } («Access denied, bad outbound sender»): Microsoft restringió la cuenta tras detectar correo no deseado saliente. Proteja la cuenta, desbloquéela después en el portal de Microsoft Defender (Correo electrónico y colaboración > Revisar > Entidades restringidas) y averigüe qué envió ese correo.
remedy-sending_limit_reached = { $mailbox } alcanzó un límite de envío de Exchange Online (destinatarios por día, mensajes por minuto o cuota de envío): espere a que el límite se restablezca (hasta 24 horas) y reduzca lo que ECE y otras aplicaciones envían a través del buzón; consulte los límites de Exchange Online.
remedy-recipient_rejected = Exchange rechazó el destinatario del mensaje de prueba: compruebe la dirección a la que envía la comprobación y las reglas de transporte o conectores que restringen los destinatarios de { $mailbox }.
remedy-submission_deferred = Exchange aplazó el mensaje con un error temporal (4xx), normalmente porque el servicio está ocupado o limita al remitente: si persiste, consulte el estado del servicio en el Centro de administración de Microsoft 365 y los límites de envío de { $mailbox }.
remedy-message_not_delivered = Exchange aceptó el mensaje de prueba enviado como { $mailbox }, pero no llegó al buzón de prueba antes del tiempo de espera de la comprobación (guía: Configuración del buzón): busque el mensaje en el seguimiento de mensajes de Exchange (Centro de administración de Exchange > Flujo de correo > Seguimiento de mensajes; asunto y Message-ID en el registro del agente) y revise las reglas de transporte, la cuarentena y la carpeta Correo no deseado del buzón de prueba; si el correo solo llega con retraso, aumente el `timeout` de la comprobación.
remedy-cleanup_failed = El mensaje de prueba llegó, pero la comprobación no pudo eliminarlo del buzón de prueba (guía: Derechos de buzón): compruebe que la cuenta del token del buzón de prueba tiene acceso total a su bandeja de entrada y que el servidor ofrece UIDPLUS; la siguiente ejecución elimina los restos.
remedy-token_endpoint_unreachable = No se pudo acceder al punto de conexión de tokens: abra HTTPS (443) hacia login.microsoftonline.com desde este servidor y configure `proxy` para el inquilino { $tenant } si se requiere un proxy.
remedy-token_endpoint_timeout = El punto de conexión de tokens no respondió a tiempo: algo en la ruta hacia login.microsoftonline.com (un proxy, un dispositivo de inspección TLS, un firewall que acepta y luego descarta) retiene la solicitud; revise la ruta desde este servidor y `proxy` para el inquilino { $tenant }. El agente lo reintenta tras una espera.
remedy-token_bad_response = El punto de conexión de tokens respondió con algo que no es una respuesta de token, a menudo una página de un proxy: excluya login.microsoftonline.com del proxy o configure `proxy` correctamente.
remedy-token_invalid_grant = Se rechazó el token de actualización de { $user } (revocado, contraseña cambiada o emitido para otra aplicación): vuelva a generarlo desde una ventana del explorador en modo incógnito o privado, con la sesión iniciada como { $user }.
remedy-token_refresh_token_expired = El token de actualización de { $user } caducó tras 90 días sin uso: vuelva a generarlo desde una ventana del explorador en modo incógnito o privado, con la sesión iniciada como { $user }.
remedy-token_invalid_client = Azure AD rechazó las credenciales de la aplicación: compruebe el id. de cliente y el secreto de cliente del inquilino { $tenant } (el valor del secreto, no su id.).
remedy-token_client_secret_expired = El secreto de cliente del inquilino { $tenant } ha caducado: cree uno nuevo en el registro de aplicaciones (Certificados y secretos) y actualice `client_secret`.
remedy-token_consent_required = La aplicación no tiene el consentimiento del administrador para los permisos de correo: conceda el consentimiento del administrador en el registro de aplicaciones (Permisos de API) para el inquilino { $tenant }.
remedy-token_interaction_required = Azure AD pide a { $user } que vuelva a iniciar sesión (MFA o acceso condicional): vuelva a generar el token desde una ventana del explorador en modo incógnito o privado y excluya la cuenta de servicio de las directivas que requieren interacción.
remedy-token_unknown_tenant = Azure AD no conoce el inquilino { $tenant }: compruebe `tenant_id` (id. del directorio o dominio) y la autoridad.
remedy-token_unknown_client = No se encuentra la aplicación en el inquilino { $tenant }: compruebe `client_id` y que el registro de aplicaciones exista en este inquilino.
remedy-token_throttled = Azure AD está limitando las solicitudes de token: el agente espacia sus intentos; si persiste, reduzca el número de comprobaciones de token o aumente su intervalo.
remedy-token_wrong_user = El token se emitió para un usuario distinto de { $user }: vuelva a generarlo desde una ventana del explorador en modo incógnito o privado, con la sesión iniciada como { $user } (guía: Generación de tokens).
remedy-token_missing_scope = Al token le falta el permiso de { $protocol }: agregue el permiso delegado (IMAP.AccessAsUser.All, POP.AccessAsUser.All o SMTP.Send) al registro de aplicaciones, conceda el consentimiento y vuelva a generar el token.
remedy-token_lifetime_too_short = El token de acceso dura menos de 60 minutos: elimine la directiva de duración de tokens que lo acorta (guía: Aplicación de Azure AD, token de acceso).
remedy-token_store_unwritable = El agente no puede guardar el token de actualización renovado: compruebe los permisos y el espacio libre del directorio del almacén de tokens.
remedy-internal = Se produjo un error interno en el agente: consulte su registro para { $check } e informe del error con la línea del registro.
