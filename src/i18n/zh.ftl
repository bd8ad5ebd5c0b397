# 简体中文：en.ftl的译文。术语遵循思科的中文指南
# “对Office 365的ECE OAUTH2身份验证进行故障排除”。

## 报告框架

report-title = ECE与Office 365：故障排除指南的检查项目
report-role = 服务器角色：{ $role ->
    [services] 服务服务器
    [application] 应用服务器
   *[both] 服务服务器和应用服务器
}
report-summary = { $passed }项通过，{ $failed }项失败，{ $not_checked }项未检查。
status-passed = 通过
status-failed = 失败
status-not_checked = 未检查
label-evidence = 依据
label-remedy = 处理方法
label-reply = 详细信息
label-ids = Microsoft ID
evidence-proxy = 路径中的HTTP代理：{ $proxy }
page-checks-run = 已运行{ $configured }项检查中的{ $ran }项。
page-metrics = 指标
report-item = { $n }. { $title }：{ $status }
report-labelled = { $label }：{ $value }

## 指南的检查项目

item-minimum_version = 最低版本
item-system_configuration = 系统配置（应用的外部URL和重定向URL）
item-azure_ad_application = Azure AD应用程序和客户端密码
item-token_generation = 令牌生成（用户、作用域、有效期）
item-mailbox_configuration = 邮箱配置（SMTP、IMAP、POP3）
item-exchange_license = Exchange许可证
item-mailbox_rights = 邮箱权限
item-network_connectivity = 网络连接（URL、DNS、端口、TLS）
item-token_refresh = 令牌刷新

## 检查结果

version-meets = ECE { $version }满足最低版本{ $minimum }。
version-newer = ECE { $version }高于指南表格所列版本：已内置对Office 365的OAuth支持。
version-below = ECE { $version }缺少OAuth所需的工程特别版（ES）：最低版本为{ $minimum }。
version-too-old = ECE { $version }早于首个支持Office 365 OAuth的版本（{ $minimum }）。
version-not-in-table = ECE { $version }不在指南的最低版本表中；请查看发行说明，确认是否支持OAuth（思科漏洞CSCvr86493）。
urls-match = 应用的外部URL和重定向URL使用同一主机：{ $host }。
urls-differ = 应用的外部URL的主机{ $external }与重定向URL的主机{ $redirect }不同。
secret-valid = 租户{ $tenant }的客户端密码有效期至{ $date }。
secret-expires-soon = 租户{ $tenant }的客户端密码将于{ $date }过期（还剩{ $days }天）：请在此之前创建新的客户端密码。
secret-expired = 租户{ $tenant }的客户端密码已于{ $date }过期。
check-not-run = 检查{ $check }尚未运行。
check-failed = 检查{ $check }（{ $target }）失败（原因：`{ $reason }`，阶段：`{ $phase }`）。
blocked = 检查{ $check }未进行到此项：它在更早的阶段已失败（{ $reason }）。
port-not-checked = 没有任何检查覆盖端口{ $port }（{ $use ->
    [token] 到login.microsoftonline.com的HTTPS，用于令牌
    [smtp] 使用STARTTLS的SMTP，用于调度器和警报通知
   *[retriever] 基于TLS的IMAP或POP3，用于检索器
}）：请为其添加tcp、tls或mail检查。
protocol-not-checked = 没有针对{ $mailbox }的经过身份验证的{ $protocol }检查：请使用`mailbox:`添加一个，以检查该协议是否已启用。

## 本监测程序自己发现的失败详细信息（服务器的原文按原样显示）

detail-token_wrong_user = 该令牌颁发给了{ $got }，而不是{ $user }。
detail-token_no_user = 该令牌未指明用户；它应颁发给{ $user }。
detail-token_audience = 该令牌的受众是{ $audience }，而不是Exchange Online。
detail-token_missing_delegated = 该令牌缺少委托权限{ $permissions }。
detail-token_missing_application = 该令牌缺少应用程序权限{ $permissions }。
detail-token_expires_before_issued = 该访问令牌在颁发之前就已过期（其exp声明早于iat声明）。
detail-token_lifetime = 该访问令牌的有效期为{ $minutes }分钟；指南要求至少60分钟。

ok-minimum_version = 检查{ $check }已通过。
ok-system_configuration = 检查{ $check }已通过。
ok-azure_ad_application = 租户{ $tenant }已接受应用程序的凭证（{ $check }）。
ok-token_generation = { $check }使用的令牌属于{ $user }，具有所需的作用域，有效期为{ $minutes }分钟。
ok-mailbox_configuration = { $protocol }接受{ $mailbox }的XOAUTH2（{ $check }）。
ok-exchange_license = Exchange Online托管邮箱{ $mailbox }（{ $check }）；指南要求至少分配E3许可证。
ok-mailbox_rights = { $model ->
    [shared] 共享帐户：{ $user }可以访问{ $mailbox }（{ $check }）。
   *[own] 邮箱帐户：{ $mailbox }使用其自己的帐户和令牌打开（{ $check }）。
}
ok-network_connectivity = { $check }已连通{ $target }。
ok-network_connectivity-proxy = { $check }已通过HTTP代理{ $proxy }连通{ $target }。
ok-external_url = ECE的应用程序外部URL { $target }已通过HTTPS从本服务器响应{ $check }，其证书对该名称有效。
ok-azure_ad_application-tenant = 租户{ $tenant }存在：其位于{ $target }的OpenID元数据指明目录{ $tenant_id }（{ $check }）。只有令牌检查才能表明应用程序的凭据被接受。
ok-token_refresh = { $check }持有{ $user }的有效访问令牌，已使用存储的凭证刷新。

why-minimum_version = 未检查：请在配置中添加`ece.version`（例如`12.5(1) ES3`，与ECE“关于”页面上显示的一致）。
why-system_configuration = 未检查：请在配置中添加`ece.external_url`（ECE的“应用的外部URL”）和`ece.redirect_uri`（应用注册的重定向URL）。
why-azure_ad_application = 未检查：没有配置任何带有租户检查、令牌检查或经过身份验证的邮件检查的租户（{ $tenants }个租户，{ $mailboxes }个邮箱）。
why-token_generation = 未检查：没有配置带凭证的邮箱，因此未检查任何令牌（{ $mailboxes }个邮箱）。
why-mailbox_configuration = 未检查：没有配置带`mailbox:`的邮件检查（{ $mailboxes }个邮箱）。
why-exchange_license = 未检查：只有经过身份验证的IMAP、POP3或SMTP检查才能表明Exchange Online托管该邮箱；许可证本身请在Microsoft 365管理中心查看。
why-mailbox_rights = 未检查：没有配置带`mailbox:`的邮件检查（{ $mailboxes }个邮箱）。
why-network_connectivity = 未检查：没有配置任何DNS、TCP、TLS或邮件检查。
why-token_refresh = 未检查：没有配置`kind: token`检查或经过身份验证的邮件检查（{ $mailboxes }个邮箱）。

## 配置问题的处理方法

remedy-version-below = 请安装适用于您的版本的工程特别版（ES）（{ $minimum }）或更高版本，然后按照该版本的OAuth文档操作。最佳实践是安装最新的ES。
remedy-version-too-old = 请将ECE升级到支持Office 365 OAuth的版本（{ $minimum }或更高版本）。
remedy-urls-differ = 重定向URL的FQDN必须与ECE中的“应用的外部URL”一致，并且必须是打开管理控制台时使用的名称：请更正其中之一（Azure AD应用注册 > 身份验证，或ECE中的分区 > 应用 > 常规设置），然后重新生成令牌。
remedy-secret-expired = 请在应用注册（证书和密码）中创建新的客户端密码，在ECE和本监测程序读取它的位置进行更新（租户{ $tenant }），并设置`client_secret_expires`。

## 检查失败的处理方法（按原因）

remedy-dns_nxdomain = 此服务器的解析器查不到名称{ $host }：请检查拼写，并确认DNS服务器（或分离式DNS）能够解析Office 365的名称（*.office365.com、login.microsoftonline.com）。
remedy-dns_servfail = DNS服务器未能为{ $host }提供应答：请在此服务器上检查解析器及其转发器。
remedy-dns_refused = DNS服务器拒绝了对{ $host }的查询：请允许此服务器使用该DNS服务器，或配置其他解析器。
remedy-dns_no_answer = 名称{ $host }存在，但没有所请求类型的记录：请检查该检查的记录类型和DNS区域。
remedy-dns_timeout = 未能及时收到{ $host }的DNS应答：请确认从此服务器到解析器的UDP/TCP端口53已开放。
remedy-dns_error = 无法使用{ $host }的DNS应答：请检查解析器；并从此服务器尝试`nslookup { $host }`。
remedy-resolve_failed = 此服务器无法解析{ $host }：请检查其DNS设置和hosts文件。
remedy-connect_refused = { $target }拒绝了连接：路径上的某个设备（防火墙或代理服务器）拒绝端口{ $port }；请从此服务器开放该端口。
remedy-connect_timeout = { $target }没有应答：防火墙丢弃了端口{ $port }的流量。请从此服务器开放出站TCP { $port }（指南：端口）。
remedy-network_unreachable = 此服务器没有到{ $target }的路由：请检查默认网关、代理服务器设计和出站路由。
remedy-proxy_connect_failed = 通往{ $target }路径上的HTTP代理服务器出现故障，而不是Microsoft：代理无法访问、关闭了连接，或未以HTTP响应CONNECT请求。请检查`proxy:`（或HTTPS_PROXY）中的代理地址和端口，并确认代理服务正在运行且可从此服务器访问。
remedy-proxy_auth_required = 通往{ $target }路径上的HTTP代理服务器要求身份验证（407）：请在`proxy:`旁设置`proxy_user`和`proxy_password`（env:名称 或 file:路径），确认该帐户未被锁定或过期，并确认代理服务器接受Basic身份验证。
remedy-proxy_denied = HTTP代理服务器拒绝了通往{ $target }的隧道（状态码见详细信息），问题不在Microsoft：请代理服务器管理员允许此服务器向{ $host }的{ $port }端口发起CONNECT。
remedy-local_resource_exhausted = 检查{ $target }时，是此服务器本身（而非网络）耗尽了文件描述符或套接字缓冲区：请提高监测程序的打开文件数限制（systemd的`LimitNOFILE=`、`ulimit -n`），查找泄漏套接字的进程，并用`ss -s`对照。
remedy-tls_handshake_failed = 与{ $target }的TLS握手失败：代理服务器或防火墙可能拦截或阻止了TLS；请将Office 365主机排除在TLS检测之外。
remedy-tls_version_unsupported = { $target }仅支持TLS 1.0或1.1：Office 365要求TLS 1.2，因此是旧的代理服务器或负载均衡器代替Microsoft作出了应答；请让该主机绕过它，或升级它。
remedy-tls_cert_expired = { $target }提供的证书已过期：如果它不是Microsoft的证书，则路径上存在TLS检测设备；请排除该主机，或续订其证书。
remedy-tls_cert_not_yet_valid = 证书尚未生效：请先检查此服务器的时钟（NTP）。
remedy-tls_cert_untrusted = { $target }的证书不受信任：通常是企业代理服务器进行了TLS检测。请将*.office365.com和login.microsoftonline.com排除在检测之外，或使用`extra_ca_file`添加代理服务器的CA（并为ECE将其添加到Java信任库中）。
remedy-tls_cert_name_mismatch = { $target }的证书属于另一个名称：请检查目标主机名，或检查是否有代理服务器代为应答。
remedy-tls_unexpected_issuer = { $target }的证书来自意外的颁发者：路径上存在TLS检测。请将该主机排除在检测之外，或更新`expected_issuer`。
remedy-timeout = { $target }未能及时完成：请检查路径上是否有缓慢的代理服务器或丢包，仅在已知路径较慢时才调大`timeout`。
remedy-connection_closed = { $target }过早关闭了连接：防火墙或代理服务器可能切断了会话；请查看其中与此服务器相关的日志。
remedy-line_too_long = { $target }发送了没有结束符的超长行：这不是Exchange Online邮件服务器；请检查目标和代理服务器。
remedy-too_many_lines = { $target }发送了无休止的回复：这不是Exchange Online邮件服务器；请检查目标和代理服务器。
remedy-reply_too_large = { $target }发送的回复大于任何邮件服务器会发送的大小：这不是Exchange Online邮件服务器；请检查目标和代理服务器。
remedy-unexpected_reply = { $target }的应答不符合预期：请检查目标是否使用该检查的协议（端口587、993、995），并确认没有代理服务器改写它。
remedy-greeting_rejected = { $target }在问候消息中拒绝了会话：服务器可能阻止了此源地址；请查看下方的回复。
remedy-starttls_not_offered = { $target }未提供STARTTLS：路径上的某个设备可能将其删除（防火墙上的SMTP检测）；请对端口587禁用该检测。
remedy-starttls_rejected = { $target }拒绝了STARTTLS：请查看下方的回复，并检查路径上的所有SMTP代理服务器。
remedy-http_unexpected_status = { $target }返回了检查未预期的HTTP状态码（状态码以及重定向所指向的主机见详细信息）：请检查URL和`expect_status`；重定向到登录页或拦截页说明路径上有代理或过滤设备。
remedy-http_bad_response = { $target }返回的内容不是可用的HTTP响应（不是HTTP、响应头过大或响应体损坏）：通常是路径上的代理或TLS检查设备所致；请在本服务器上用`curl -v`进行对比。
remedy-auth_mechanism_not_offered = { $target }未提供XOAUTH2：请确保目标是Exchange Online（smtp.office365.com、outlook.office365.com），并且已为组织启用SMTP AUTH。
remedy-auth_rejected = Exchange拒绝了{ $mailbox }的令牌：请在Exchange管理中心为此邮箱启用{ $protocol }（邮箱 > 管理电子邮件应用），并确保令牌属于{ $user }。
remedy-auth_rejected-shared = Exchange拒绝了{ $user }对{ $mailbox }的访问：请授予{ $user }对该邮箱的完全控制（“完全访问”权限；指南：邮箱权限，共享帐户），并在Exchange管理中心为该邮箱启用{ $protocol }。
remedy-smtp_auth_disabled = { $hint ->
    [smtp_auth_tenant] 整个组织已禁用SMTP AUTH（Exchange：“SmtpClientAuthentication is disabled for the Tenant”）：请在Microsoft 365管理中心为组织启用它（设置 > 组织设置 > 邮件，或运行`Set-TransportConfig -SmtpClientAuthenticationDisabled $false`），或在Exchange管理中心（管理电子邮件应用）中仅为{ $mailbox }启用“经过身份验证的SMTP”，该设置优先于组织设置。
    [smtp_auth_mailbox] { $mailbox }已禁用SMTP AUTH（Exchange：“SmtpClientAuthentication is disabled for the Mailbox”）：请在Exchange管理中心（邮箱 > 管理电子邮件应用）中为该邮箱启用“经过身份验证的SMTP”，或运行`Set-CASMailbox { $mailbox } -SmtpClientAuthenticationDisabled $false`。
    [security_defaults] Microsoft Entra ID的安全默认值阻止了{ $user }的SMTP AUTH（Exchange：“locked by your organization's security defaults policy”）：请为租户{ $tenant }关闭安全默认值（Microsoft Entra管理中心 > 概述 > 属性 > 管理安全默认值），改用条件访问保护登录。
   *[other] { $mailbox }的SMTP AUTH已禁用：请在Exchange管理中心（管理电子邮件应用）中为该邮箱启用“经过身份验证的SMTP”，并检查组织是否禁用了它。
}
remedy-mailbox_not_found = Exchange接受了登录，但找不到{ $mailbox }的邮箱：请检查该帐户是否具有Exchange Online许可证（至少E3）和邮箱。
remedy-mailbox_not_found-shared = { $user }已登录，但无法打开{ $mailbox }：请授予{ $user }对该邮箱的完全控制（“完全访问”权限），或检查邮箱地址。
remedy-mailbox_rights_missing = Exchange接受了{ $user }的令牌，但未授予其对{ $mailbox }的访问权限（指南：邮箱权限）：请授予{ $user }对该邮箱的完全控制（`Add-MailboxPermission -Identity { $mailbox } -User { $user } -AccessRights FullAccess`）；如使用应用的令牌（客户端凭据），请在`New-ServicePrincipal`之后用`Add-MailboxPermission`为应用的服务主体授予相同权限。
remedy-send_as_denied = Exchange不允许{ $user }以{ $mailbox }的身份发送（SendAsDenied，指南：邮箱权限）：除完全控制外，请授予{ $user }对该邮箱的“以其身份发送”（Send As）权限（Exchange管理中心 > 邮箱 > { $mailbox } > 委托，或运行`Add-RecipientPermission { $mailbox } -AccessRights SendAs -Trustee { $user }`）。
remedy-sender_blocked = Exchange已阻止{ $user }发送邮件（“Access denied, bad outbound sender”）：Microsoft检测到外发垃圾邮件后限制了该帐户。请先保护该帐户，再在Microsoft Defender门户（电子邮件与协作 > 审阅 > 受限实体）中解除限制，并查明发送垃圾邮件的来源。
remedy-sending_limit_reached = { $mailbox }已达到Exchange Online的发送限制（每日收件人数、每分钟邮件数或提交配额）：请等待限制重置（最长24小时），并减少ECE和其他应用通过该邮箱发送的邮件；请参阅Exchange Online限制。
remedy-recipient_rejected = Exchange拒绝了测试邮件的收件人：请检查本检查发送到的地址，以及限制{ $mailbox }收件人的传输规则或连接器。
remedy-submission_deferred = Exchange以临时错误（4xx）推迟了该邮件，通常是服务繁忙或对发件人限流：如果持续，请在Microsoft 365管理中心查看服务运行状况以及{ $mailbox }的发送限制。
remedy-message_not_delivered = Exchange已接受以{ $mailbox }身份发送的测试邮件，但在检查超时之前它没有到达测试邮箱（指南：邮箱配置）：请在Exchange的邮件跟踪中查找该邮件（Exchange管理中心 > 邮件流 > 邮件跟踪，主题和Message-ID见代理日志），并检查传输规则、隔离区和测试邮箱的垃圾邮件文件夹；如果邮件只是延迟到达，请增大该检查的`timeout`。
remedy-cleanup_failed = 测试邮件已到达，但检查无法将其从测试邮箱中删除（指南：邮箱权限）：请确认测试邮箱令牌所属的账户对其收件箱具有完全访问权限，并且服务器提供UIDPLUS；下一次运行会删除残留的邮件。
remedy-token_endpoint_unreachable = 无法访问令牌终结点：请从此服务器开放到login.microsoftonline.com的HTTPS（443）；如果需要代理服务器，请为租户{ $tenant }设置`proxy`。
remedy-token_endpoint_timeout = 令牌终结点未及时响应：到login.microsoftonline.com的路径上有设备（代理服务器、TLS检查设备、先接受连接再丢弃流量的防火墙）扣住了请求；请检查从此服务器出发的路径以及租户{ $tenant }的`proxy`设置。监测程序会在退避等待后重试。
remedy-token_bad_response = 令牌终结点返回的不是令牌响应，通常是代理服务器的页面：请让login.microsoftonline.com绕过代理服务器，或正确设置`proxy`。
remedy-token_invalid_grant = { $user }的刷新令牌被拒绝（已撤销、密码已更改或颁发给了其他应用）：请在隐身模式或专用模式的浏览器窗口中以{ $user }身份登录，重新生成该令牌。
remedy-token_refresh_token_expired = { $user }的刷新令牌在90天未使用后已过期：请在隐身模式或专用模式的浏览器窗口中以{ $user }身份登录，重新生成该令牌。
remedy-token_invalid_client = Azure AD拒绝了应用程序的凭证：请检查租户{ $tenant }的客户端ID和客户端密码（密码的值，而不是其ID）。
remedy-token_client_secret_expired = 租户{ $tenant }的客户端密码已过期：请在应用注册（证书和密码）中创建新的客户端密码，并更新`client_secret`。
remedy-token_consent_required = 应用程序缺少邮件权限的管理员同意：请在租户{ $tenant }的应用注册（API权限）中授予管理员同意。
remedy-token_interaction_required = Azure AD要求{ $user }重新登录（MFA或条件访问）：请在隐身模式或专用模式的浏览器窗口中重新生成令牌，并将服务帐户排除在需要交互的策略之外。
remedy-token_unknown_tenant = Azure AD不认识租户{ $tenant }：请检查`tenant_id`（目录ID或域）和颁发机构（authority）。
remedy-token_unknown_client = 在租户{ $tenant }中找不到该应用程序：请检查`client_id`，并确认该应用注册存在于此租户中。
remedy-token_throttled = Azure AD正在限制令牌请求：本监测程序会退避重试；如果持续出现，请减少令牌检查的数量或增大其间隔。
remedy-token_wrong_user = 令牌颁发给了{ $user }以外的用户：请在隐身模式或专用模式的浏览器窗口中以{ $user }身份登录，重新生成该令牌（指南：令牌生成）。
remedy-token_missing_scope = 令牌缺少{ $protocol }权限：请在应用注册中添加委托的权限（IMAP.AccessAsUser.All、POP.AccessAsUser.All或SMTP.Send），授予同意，然后重新生成令牌。
remedy-token_lifetime_too_short = 访问令牌的有效期不足60分钟：请删除缩短其有效期的令牌生存期策略（指南：Azure AD应用程序，访问令牌）。
remedy-token_store_unwritable = 本监测程序无法保存轮换后的刷新令牌：请检查令牌存储目录的权限和可用空间。
remedy-internal = 本监测程序遇到内部错误：请查看其日志中有关{ $check }的内容，并附上该日志行报告此问题。
