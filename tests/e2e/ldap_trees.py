"""Reusable LDAP test directories (LDIF text) in the two Sun layouts, for
test_ldap_schema.py and the vdsync tests. Every function takes the suffix
(the harness's, "o=isp" by default) and returns LDIF for ldapadd; load them
in this order: schema2_tree, schema1_tree (each is self-contained below the
suffix entry, which the harness creates).

Schema 2 (one node per organization, aliases in associatedDomain):

    o=abc.com,SUFFIX                   sunManagedOrganization, mailDomain,
                                       vdmailDomain; sunPreferredDomain abc.com,
                                       associatedDomain abc.com and abc.net,
                                       postmaster pm@abc.com, administrator
                                       cn=abcadmin,SUFFIX
      ou=people
        uid=alice   alice@abc.com, alias a.liddell@abc.com,
                    userPassword {SSHA} of "alice-pw" (ALICE_PW)
        uid=bob     bob@abc.com, mailEquivalentAddress bobby@abc.com,
                    mailQuota 50M
        uid=carol   carol@abc.com, inetUserStatus inactive
      ou=groups
        cn=staff    staff@abc.com: uniqueMember alice and bob,
                    mgrpRFC822MailMember ext@remote.test
        cn=everyone everyone@abc.com: groupOfURLs, memberURL of every
                    inetMailUser in ou=people
    cn=abcadmin,SUFFIX                 abc.com's administrator (not a mail
                                       user), password ABC_ADMIN_PW

Schema 1 (a DC tree node pointing at an organization subtree):

    dc=xyz,dc=gov,o=internet,SUFFIX    domain, inetDomain, mailDomain;
                                       inetDomainBaseDN o=xyz.gov,SUFFIX
    o=xyz.gov,SUFFIX
      ou=people
        uid=dan     dan@xyz.gov

full_user() is one more abc.com user (uid=zoe) carrying every user
attribute of vdmail.schema; it is kept out of schema2_tree so that the
directory above stays small.

Passwords are {SSHA} with a fixed 4-byte salt so the LDIF is the same on
every run; ssha() makes others.
"""
import base64
import hashlib
import os

ALICE_PW = "alice-pw"
ABC_ADMIN_PW = "abcadmin-pw"


def ssha(password, salt=None):
    """{SSHA}base64(SHA-1(password + salt) + salt), a 4-byte salt as
    slappasswd writes (random when salt is None)."""
    if salt is None:
        salt = os.urandom(4)
    if isinstance(password, str):
        password = password.encode("utf-8")
    digest = hashlib.sha1(password + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _pw(password, tag):
    # fixed per-user salt: deterministic LDIF
    return ssha(password, hashlib.sha1(tag.encode()).digest()[:4])


def schema2_tree(suffix="o=isp"):
    """abc.com as a Schema 2 organization with users and two lists."""
    d = "o=abc.com," + suffix
    return """\
dn: {d}
objectClass: organization
objectClass: sunManagedOrganization
objectClass: mailDomain
objectClass: vdmailDomain
o: abc.com
sunPreferredDomain: abc.com
associatedDomain: abc.com
associatedDomain: abc.net
inetDomainStatus: active
mailDomainStatus: active
vdmailDomainPostmaster: pm@abc.com
vdmailDomainAdmin: cn=abcadmin,{s}

dn: cn=abcadmin,{s}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: abcadmin
description: administrator of abc.com
userPassword: {adminpw}

dn: ou=people,{d}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{d}
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,{d}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@abc.com
mailAlternateAddress: a.liddell@abc.com
userPassword: {alicepw}
inetUserStatus: active
mailUserStatus: active
mailDeliveryOption: mailbox

dn: uid=bob,ou=people,{d}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: bob
cn: Bob
sn: Bob
mail: bob@abc.com
mailEquivalentAddress: bobby@abc.com
mailQuota: 50M
mailDeliveryOption: mailbox

dn: uid=carol,ou=people,{d}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: carol
cn: Carol
sn: Carol
mail: carol@abc.com
inetUserStatus: inactive

dn: cn=staff,ou=groups,{d}
objectClass: groupOfUniqueNames
objectClass: inetMailGroup
objectClass: inetLocalMailRecipient
cn: staff
mail: staff@abc.com
uniqueMember: uid=alice,ou=people,{d}
uniqueMember: uid=bob,ou=people,{d}
mgrpRFC822MailMember: ext@remote.test
inetMailGroupStatus: active
mailDeliveryOption: members

dn: cn=everyone,ou=groups,{d}
objectClass: groupOfURLs
objectClass: inetMailGroup
objectClass: inetLocalMailRecipient
cn: everyone
mail: everyone@abc.com
memberURL: ldap:///ou=people,{d}??one?(objectClass=inetMailUser)
inetMailGroupStatus: active
mailDeliveryOption: members
""".format(d=d, s=suffix, alicepw=_pw(ALICE_PW, "alice"),
           adminpw=_pw(ABC_ADMIN_PW, "abcadmin"))


def schema1_tree(suffix="o=isp"):
    """xyz.gov as a Schema 1 DC tree node plus its organization subtree
    (the DC tree sits under the same suffix: o=internet,SUFFIX)."""
    org = "o=xyz.gov," + suffix
    return """\
dn: o=internet,{s}
objectClass: organization
o: internet

dn: dc=gov,o=internet,{s}
objectClass: domain
dc: gov

dn: dc=xyz,dc=gov,o=internet,{s}
objectClass: domain
objectClass: inetDomain
objectClass: mailDomain
dc: xyz
inetDomainBaseDN: {org}
inetDomainStatus: active
mailDomainStatus: active

dn: {org}
objectClass: organization
o: xyz.gov

dn: ou=people,{org}
objectClass: organizationalUnit
ou: people

dn: uid=dan,ou=people,{org}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: dan
cn: Dan
sn: Dan
mail: dan@xyz.gov
""".format(s=suffix, org=org)


def full_user(suffix="o=isp"):
    """uid=zoe under abc.com with every user attribute of vdmail.schema
    (needs schema2_tree first)."""
    return """\
dn: uid=zoe,ou=people,o=abc.com,{s}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
objectClass: inetSubscriber
objectClass: vdmailRecipient
uid: zoe
cn: Zoe
sn: Zoe
userPassword: {pw}
mail: zoe@abc.com
mailAlternateAddress: z@abc.com
mailAlternateAddress: @abc.net
mailEquivalentAddress: zoe@abc.net
mailHost: mail.abc.com
mailRoutingAddress: zoe@relay.abc.com
inetUserStatus: active
inetUserHttpURL: https://abc.com/~zoe
mailUserStatus: active
mailAllowedServiceAccess: +imap:ALL$+pop:ALL$+smtp:ALL
mailDeliveryOption: mailbox
mailDeliveryOption: forward
mailDeliveryOption: autoreply
mailDeliveryOption: program
mailDeliveryOption: file
mailDeliveryOption: shared
mailForwardingAddress: zoe@elsewhere.test
mailProgramDeliveryInfo: procmail
mailDeliveryFileURL: /var/mail/archive/zoe
vdmailSharedFolder: shared/abc/support
mailAutoReplyMode: reply
mailAutoReplyText: I am away.$Back on Monday.
mailAutoReplyTextInternal: Away, call me.
mailAutoReplySubject: Away: $SUBJECT
mailAutoReplyTimeOut: 168
vacationStartDate: 20250101000000Z
vacationEndDate: 20250115000000Z
mailQuota: 100M
mailMsgQuota: 10000
mailMessageStore: primary
inetSubscriberAccountId: ACC-42
""".format(s=suffix, pw=_pw("zoe-pw", "zoe"))
