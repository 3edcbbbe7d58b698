"""LDAP schema and ACLs: etc/ldap/vdmail.schema passes slaptest with core,
cosine, inetorgperson and dyngroup and is refused next to misc.schema
(which it replaces); vdmail.ldif defines exactly the same schema and slapd
loads it into cn=config; the Schema 2 and Schema 1 trees of ldap_trees.py
load, and the addresses and domains are found case-insensitively; the
misc name mailLocalAddress is an alias of mailAlternateAddress; and under
etc/ldap/vdmail-acl.ldif a domain's administrators manage their domain
only, users change only their own password, the sync account reads
everything and anonymous reads nothing."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner  # noqa: E402
import ldap_trees  # noqa: E402
import schema_to_ldif  # noqa: E402
from ldapd import ACL_LDIF, SCHEMA_DIR, LdapError, Slapd  # noqa: E402

r = Runner("ldap_schema")
ARC = "2.25.176853424350954717104890809888761086527"
S = "o=isp"
ABC = "o=abc.com," + S
XYZ = "o=xyz.com," + S
ABC_ADMIN = "cn=abcadmin," + S
ABC_ADMIN_PW = ldap_trees.ABC_ADMIN_PW

# Every name the schema must define (the brief's list and misc's).
REQUIRED = """
sunManagedOrganization inetDomain mailDomain inetDomainAuthInfo
sunPreferredDomain inetDomainBaseDN inetDomainStatus mailDomainStatus
mailDomainAllowedServiceAccess mailDomainDiskQuota mailDomainMsgQuota
preferredMailHost domainUidSeparator inetCanonicalDomainName
mailRoutingSmartHost mailRoutingHosts mailDomainWelcomeMessage
inetUser inetMailUser inetSubscriber inetUserStatus mailUserStatus
mailAllowedServiceAccess mailDeliveryOption mailForwardingAddress
mailProgramDeliveryInfo mailDeliveryFileURL mailAutoReplyMode
mailAutoReplyText mailAutoReplyTextInternal mailAutoReplySubject
mailAutoReplyTimeOut vacationStartDate vacationEndDate mailQuota
mailMsgQuota mailEquivalentAddress mailMessageStore
inetMailGroup inetMailGroupStatus mgrpRFC822MailMember mgrpDeliverTo
mgrpAllowedBroadcaster mgrpAllowedDomain mgrpErrorsTo mgrpModerator
mgrpMsgRejectAction mgrpMsgRejectText mgrpMsgMaxSize
vdmailDomainPostmaster vdmailDomainAdmin vdmailSharedFolder vdmailDomain
vdmailRecipient
mailAlternateAddress mailLocalAddress mailHost mailRoutingAddress
rfc822MailMember nisMailAlias inetLocalMailRecipient
""".split()

# OIDs fixed by misc.schema and the Sun/Netscape references.
PUBLISHED = {
    "mailAlternateAddress": "2.16.840.1.113730.3.1.13",
    "mailHost": "2.16.840.1.113730.3.1.18",
    "mailRoutingAddress": "2.16.840.1.113730.3.1.47",
    "rfc822MailMember": "1.3.6.1.4.1.42.2.27.2.1.15",
    "nisMailAlias": "1.3.6.1.4.1.42.2.27.1.2.5",
    "inetLocalMailRecipient": "2.16.840.1.113730.3.2.147",
    "sunManagedOrganization": "2.16.840.1.113730.3.2.185",
    "inetDomain": "2.16.840.1.113730.3.2.129",
    "inetDomainAuthInfo": "2.16.840.1.113730.3.2.133",
    "inetUser": "2.16.840.1.113730.3.2.130",
    "inetMailUser": "2.16.840.1.113730.3.2.146",
    "inetSubscriber": "2.16.840.1.113730.3.2.134",
    "inetMailGroup": "1.3.6.1.4.1.42.2.27.2.2.2",
    "sunPreferredDomain": "2.16.840.1.113730.3.1.1086",
    "inetDomainBaseDN": "2.16.840.1.113730.3.1.690",
    "inetDomainStatus": "2.16.840.1.113730.3.1.691",
    "inetUserStatus": "2.16.840.1.113730.3.1.692",
    "mailUserStatus": "2.16.840.1.113730.3.1.778",
    "inetMailGroupStatus": "2.16.840.1.113730.3.1.786",
    "mailDeliveryOption": "2.16.840.1.113730.3.1.16",
    "mailQuota": "2.16.840.1.113730.3.1.21",
    "mailDeliveryFileURL": "2.16.840.1.113730.3.1.787",
    "mgrpRFC822MailMember": "2.16.840.1.113730.3.1.30",
}

# Every user attribute of the brief: zoe (ldap_trees.full_user) has them.
USER_ATTRS = """
inetUserStatus mailUserStatus mailAllowedServiceAccess mailDeliveryOption
mailForwardingAddress mailProgramDeliveryInfo mailDeliveryFileURL
mailAutoReplyMode mailAutoReplyText mailAutoReplyTextInternal
mailAutoReplySubject mailAutoReplyTimeOut vacationStartDate vacationEndDate
mailQuota mailMsgQuota mailEquivalentAddress mailMessageStore
vdmailSharedFolder mail mailAlternateAddress mailHost mailRoutingAddress
userPassword uid inetSubscriberAccountId
""".split()


def read(path):
    with open(path) as f:
        return f.read()


def slaptest(*schemas):
    """slaptest -u on a slapd.conf including the given schema files."""
    with tempfile.TemporaryDirectory(prefix="vdmail-slaptest-") as d:
        conf = os.path.join(d, "slapd.conf")
        with open(conf, "w") as f:
            for s in schemas:
                f.write("include %s\n" % s)
        p = subprocess.run(["slaptest", "-u", "-f", conf],
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr + p.stdout


def std(name):
    return os.path.join(SCHEMA_DIR, name + ".schema")


BASE = [std("core"), std("cosine"), std("inetorgperson"), std("dyngroup")]
SCHEMA_FILE = schema_to_ldif.SCHEMA
LDIF_FILE = schema_to_ldif.LDIF


def names_oids(defs):
    """{name_lower: oid} and [oid] of parsed definitions."""
    names, oids = {}, []
    for _, d in defs:
        oid = d.split()[1]
        oids.append(oid)
        m = re.search(r"NAME (\( [^)]* \)|'[^']*')", d)
        for n in re.findall(r"'([^']*)'", m.group(1)):
            names[n.lower()] = oid
    return names, oids


def add_rec(ldif):
    """LDIF entries as ldapmodify 'changetype: add' records."""
    return "\n\n".join(b.replace("\n", "\nchangetype: add\n", 1)
                       for b in ldif.strip().split("\n\n")) + "\n"


def dns(results):
    return sorted(dn.lower() for dn, _ in results)


def one(ld, base, filt, attrs=(), **kw):
    res = ld.search(base, filt, attrs, **kw)
    assert len(res) == 1, "%s %s: %r" % (base, filt, res)
    return res[0]


# ---------------------------------------------------------------------------
# The schema files

@r.test
def slaptest_accepts_schema():
    rc, out = slaptest(*BASE, SCHEMA_FILE)
    assert rc == 0, out


@r.test
def slaptest_rejects_schema_with_misc():
    # misc.schema names 2.16.840.1.113730.3.1.13 mailLocalAddress and has
    # no mail in inetLocalMailRecipient; ours replaces it, so the two
    # cannot be loaded together (in either order)
    for order in ([std("misc"), SCHEMA_FILE], [SCHEMA_FILE, std("misc")]):
        rc, out = slaptest(*BASE, *order)
        assert rc != 0, out
        assert "Inconsistent duplicate" in out or "Duplicate" in out, out
    rc, out = slaptest(*BASE, std("misc"), SCHEMA_FILE)
    assert '"2.16.840.1.113730.3.1.13"' in out, out


@r.test
def ldif_and_schema_define_the_same():
    a = schema_to_ldif.parse_schema(read(SCHEMA_FILE))
    b = schema_to_ldif.parse_ldif(read(LDIF_FILE))
    na, oa = names_oids(a)
    nb, ob = names_oids(b)
    assert sorted(oa) == sorted(ob), set(oa) ^ set(ob)
    assert na == nb, set(na.items()) ^ set(nb.items())
    assert sorted(a) == sorted(b), set(a) ^ set(b)
    assert len(set(oa)) == len(oa), "an OID defined twice"
    assert schema_to_ldif.to_ldif(read(SCHEMA_FILE)) == read(LDIF_FILE), \
        "vdmail.ldif is stale: run tests/e2e/schema_to_ldif.py"
    assert read(LDIF_FILE).count("\ndn: ") == 1
    assert "\ndn: cn=vdmail,cn=schema,cn=config\n" in read(LDIF_FILE)
    missing = [n for n in REQUIRED if n.lower() not in na]
    assert not missing, missing
    for n, oid in PUBLISHED.items():
        assert na[n.lower()] == oid, (n, na[n.lower()], oid)
    # our arc: attribute types .1.N, object classes .2.N
    for kind, d in a:
        oid = d.split()[1]
        if oid.startswith(ARC + "."):
            sub = oid[len(ARC) + 1:].split(".")
            assert len(sub) == 2 and sub[1].isdigit(), oid
            assert sub[0] == ("1" if kind == "attributetype" else "2"), oid
    for n in ("mailDomainStatus", "mailDomainAllowedServiceAccess",
              "mailDomainMsgQuota", "mailEquivalentAddress",
              "mailAllowedServiceAccess", "mailAutoReplyTimeOut",
              "mailDomain", "vdmailDomainPostmaster", "vdmailDomainAdmin",
              "vdmailSharedFolder", "vdmailDomain", "vdmailRecipient"):
        assert na[n.lower()].startswith(ARC + "."), n
    # the header states what the file is, misc.schema and the arc
    head = "\n".join(schema_to_ldif.header(read(SCHEMA_FILE)))
    assert "misc.schema" in head and ARC in head and "REPLACES" in head


ld = Slapd()                       # our schema, no ACLs
ld.start()


@r.test
def slapd_loads_ldif_into_cn_config():
    # the subschema subentry lists our definitions under our OIDs
    text = ld.search_text("cn=Subschema", "(objectClass=*)",
                          ["attributeTypes", "objectClasses"], scope="base")
    for oid in (ARC + ".1.1", ARC + ".1.2", ARC + ".2.1", ARC + ".2.3",
                "2.16.840.1.113730.3.2.185"):
        assert "( %s " % oid in text, oid
    assert "NAME ( 'mailAlternateAddress' 'mailLocalAddress' )" in text
    conf = ld.search("cn=schema,cn=config", "(cn=*vdmail)", ["cn"],
                     binddn=ld.configdn)
    assert len(conf) == 1 and conf[0][0].endswith(
        "vdmail,cn=schema,cn=config"), conf


@r.test
def schema2_tree_loads():
    ld.add(ldap_trees.schema2_tree(S))
    ld.add(ldap_trees.full_user(S))
    dom = one(ld, S, "(&(objectClass=sunManagedOrganization)"
              "(sunPreferredDomain=abc.com))", ["*"])[1]
    assert dom["associateddomain"] == ["abc.com", "abc.net"], dom
    assert dom["inetdomainstatus"] == ["active"]
    assert dom["maildomainstatus"] == ["active"]
    assert dom["vdmaildomainpostmaster"] == ["pm@abc.com"]
    assert dom["vdmaildomainadmin"] == [ABC_ADMIN]
    zoe = one(ld, ABC, "(uid=zoe)", ["*"])[1]
    missing = [a for a in USER_ATTRS if a.lower() not in zoe]
    assert not missing, missing
    assert {"inetOrgPerson", "inetUser", "inetMailUser",
            "inetLocalMailRecipient", "vdmailRecipient"} <= set(
        zoe["objectclass"])
    assert len(zoe["maildeliveryoption"]) == 6
    staff = one(ld, ABC, "(mail=staff@abc.com)", ["*"])[1]
    assert {"groupOfUniqueNames", "inetMailGroup",
            "inetLocalMailRecipient"} <= set(staff["objectclass"])
    assert sorted(staff["uniquemember"]) == [
        "uid=alice,ou=people,%s" % ABC, "uid=bob,ou=people,%s" % ABC]
    assert staff["mgrprfc822mailmember"] == ["ext@remote.test"]
    dyn = one(ld, ABC, "(mail=everyone@abc.com)", ["*"])[1]
    assert "groupOfURLs" in dyn["objectclass"]
    assert dyn["memberurl"] == [
        "ldap:///ou=people,%s??one?(objectClass=inetMailUser)" % ABC]
    bob = one(ld, ABC, "(uid=bob)", ["mailQuota", "mailEquivalentAddress"])
    assert bob[1] == {"mailquota": ["50M"],
                      "mailequivalentaddress": ["bobby@abc.com"]}, bob
    carol = one(ld, ABC, "(uid=carol)", ["inetUserStatus"])
    assert carol[1] == {"inetuserstatus": ["inactive"]}


@r.test
def schema1_tree_loads():
    ld.add(ldap_trees.schema1_tree(S))
    node = one(ld, "o=internet," + S,
               "(|(objectClass=inetDomain)(objectClass=inetDomainAlias))",
               ["*"])
    assert node[0] == "dc=xyz,dc=gov,o=internet," + S, node
    assert {"domain", "inetDomain", "mailDomain"} <= set(
        node[1]["objectclass"])
    assert node[1]["inetdomainbasedn"] == ["o=xyz.gov," + S]
    dan = one(ld, node[1]["inetdomainbasedn"][0], "(mail=dan@xyz.gov)")
    assert dan[0] == "uid=dan,ou=people,o=xyz.gov," + S


@r.test
def searches_are_case_insensitive():
    alice = "uid=alice,ou=people," + ABC
    assert one(ld, S, "(mail=ALICE@Abc.Com)")[0] == alice
    assert one(ld, S, "(mailAlternateAddress=A.Liddell@ABC.com)")[0] == alice
    assert one(ld, S, "(mailEquivalentAddress=BOBBY@abc.com)")[0].startswith(
        "uid=bob,")
    assert one(ld, S, "(associatedDomain=ABC.NET)")[0] == ABC
    assert one(ld, S, "(sunPreferredDomain=Abc.Com)")[0] == ABC
    assert one(ld, S, "(mgrpRFC822MailMember=EXT@remote.test)")[0] \
        .startswith("cn=staff,")
    assert one(ld, S, "(vdmailDomainAdmin=CN=AbcAdmin, O=ISP)")[0] == ABC
    assert one(ld, S, "(inetUserStatus=INACTIVE)")[0].startswith("uid=carol")
    assert len(ld.search(ABC, "(mail=*@abc.com)", ["1.1"])) == 6
    assert one(ld, S, "(mailAlternateAddress=@abc.net)")[0].startswith(
        "uid=zoe,")


@r.test
def mail_local_address_is_an_alias():
    ld.add("""\
dn: cn=legacy,%s
objectClass: nisMailAlias
objectClass: inetLocalMailRecipient
cn: legacy
mail: legacy@abc.com
mailLocalAddress: old-name@abc.com
rfc822MailMember: legacy@elsewhere.test
""" % S)
    # found under either name...
    for f in ("(mailAlternateAddress=old-name@abc.com)",
              "(mailLocalAddress=OLD-NAME@abc.com)"):
        assert one(ld, S, f)[0] == "cn=legacy," + S, f
    # ...and slapd returns the first NAME, whichever was written or asked
    for attrs in (["mailLocalAddress"], ["mailAlternateAddress"], ["*"]):
        text = ld.search_text("cn=legacy," + S, attrs=attrs, scope="base")
        assert "\nmailAlternateAddress: old-name@abc.com\n" in text, text
        assert "mailLocalAddress" not in text, text


@r.test
def both_names_in_one_add_are_rejected():
    try:
        ld.add("""\
dn: cn=twice,%s
objectClass: nisMailAlias
objectClass: inetLocalMailRecipient
cn: twice
mailAlternateAddress: a@abc.com
mailLocalAddress: b@abc.com
""" % S)
    except LdapError as e:
        assert e.rc == 20, e        # typeOrValueExists
        assert "provided more than once" in e.output, e
    else:
        raise AssertionError("add with both names accepted")
    assert ld.search(S, "(cn=twice)") == []


@r.test
def single_valued_status():
    try:
        ld.modify("""\
dn: %s
changetype: modify
add: inetDomainStatus
inetDomainStatus: inactive
""" % ABC)
    except LdapError as e:
        assert e.rc == 19, e        # constraintViolation
    else:
        raise AssertionError("second inetDomainStatus accepted")


@r.test
def ssha_password_binds():
    alice = "uid=alice,ou=people," + ABC
    assert ld.whoami(alice, ldap_trees.ALICE_PW) == "dn:" + alice
    try:
        ld.whoami(alice, "wrong")
    except LdapError as e:
        assert e.rc == 49, e        # invalidCredentials
    else:
        raise AssertionError("wrong password accepted")
    pw = one(ld, alice, "(objectClass=*)", ["userPassword"], scope="base")
    v = pw[1]["userpassword"][0]
    assert v.startswith("{SSHA}") and len(v) == 6 + 32, v   # 20 + 4 bytes


@r.test
def without_our_schema_sun_classes_are_unknown():
    bare = Slapd(schema=False, sessionlog=False)
    bare.start()
    try:
        rc, out = bare.try_modify(add_rec(ldap_trees.schema2_tree(S)),
                                  bare.rootdn, bare.rootpw)
        assert rc == 21, (rc, out)      # invalidAttributeSyntax
        assert "objectClass" in out, out
    finally:
        assert bare.stop() == 0, bare.log()
        bare.cleanup()


# ---------------------------------------------------------------------------
# Delegated administration (etc/ldap/vdmail-acl.ldif)

acl = Slapd(acl=True)
acl.start()
BOSS = "uid=boss,ou=people," + XYZ
XYZ_TREE = """\
dn: {x}
objectClass: organization
objectClass: sunManagedOrganization
objectClass: vdmailDomain
o: xyz.com
sunPreferredDomain: xyz.com
inetDomainStatus: active
vdmailDomainAdmin: UID=Boss, OU=People, O=XYZ.COM, O=ISP

dn: ou=people,{x}
objectClass: organizationalUnit
ou: people

dn: {boss}
objectClass: inetOrgPerson
objectClass: inetUser
uid: boss
cn: Boss
sn: Boss
userPassword: boss-pw

dn: uid=xena,ou=people,{x}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: xena
cn: Xena
sn: Xena
mail: xena@xyz.com
userPassword: xena-pw

dn: uid=pat,ou=people,{abc}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: pat
cn: Pat
sn: Pat
mail: pat@abc.com
userPassword: pat-pw
""".format(x=XYZ, boss=BOSS, abc=ABC)
acl.add(ldap_trees.schema2_tree(S))
acl.add(ldap_trees.schema1_tree(S))
acl.add(XYZ_TREE)
PAT = "uid=pat,ou=people," + ABC


def as_admin(ldif, who=ABC_ADMIN, pw=ABC_ADMIN_PW):
    return acl.try_modify(ldif, who, pw)


def user_rec(dn, uid):
    return """\
dn: %s
changetype: add
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: %s
cn: %s
sn: %s
mail: %s@abc.com
userPassword: %s-pw
""" % (dn, uid, uid, uid, uid, uid)


def exists(dn):
    return acl.search(dn, scope="base") != []


def refused(rc_out):
    rc, out = rc_out
    assert rc == 50, (rc, out)          # insufficientAccess


@r.test
def acl_admin_manages_own_domain():
    dave = "uid=dave,ou=people," + ABC
    rc, out = as_admin(user_rec(dave, "dave"))
    assert rc == 0, out
    rc, out = as_admin("""\
dn: %s
changetype: modify
replace: mailQuota
mailQuota: 10M
-
add: mailAlternateAddress
mailAlternateAddress: d@abc.com
-
replace: userPassword
userPassword: new-dave-pw
""" % dave)
    assert rc == 0, out
    got = one(acl, dave, "(objectClass=*)", ["mailQuota",
                                             "mailAlternateAddress"],
              scope="base")
    assert got[1] == {"mailquota": ["10M"],
                      "mailalternateaddress": ["d@abc.com"]}, got
    assert acl.whoami(dave, "new-dave-pw") == "dn:" + dave
    team = "cn=team,ou=groups," + ABC
    rc, out = as_admin("""\
dn: %s
changetype: add
objectClass: groupOfUniqueNames
objectClass: inetMailGroup
objectClass: inetLocalMailRecipient
cn: team
mail: team@abc.com
uniqueMember: %s
mgrpRFC822MailMember: partner@remote.test
""" % (team, dave))
    assert rc == 0, out
    assert exists(team)
    # a container directly below the domain node (its "children")
    rc, out = as_admin("dn: ou=lists,%s\nchangetype: add\n"
                       "objectClass: organizationalUnit\nou: lists\n" % ABC)
    assert rc == 0, out
    for dn in (dave, team, "ou=lists," + ABC):
        rc, out = as_admin("dn: %s\nchangetype: delete\n" % dn)
        assert rc == 0, out
        assert not exists(dn), dn
    # the admin sees its domain, from the domain or from the suffix
    mine = acl.search(S, "(mail=*)", ["mail"], binddn=ABC_ADMIN,
                      pw=ABC_ADMIN_PW)
    assert mine and all(dn.endswith("," + ABC) for dn, _ in mine), mine


@r.test
def acl_admin_refused_in_other_domain():
    eve = "uid=eve,ou=people," + XYZ
    xena = "uid=xena,ou=people," + XYZ
    refused(as_admin(user_rec(eve, "eve")))
    refused(as_admin("dn: %s\nchangetype: modify\nreplace: mail\n"
                     "mail: stolen@abc.com\n" % xena))
    refused(as_admin("dn: %s\nchangetype: delete\n" % xena))
    refused(as_admin("dn: uid=xena2,ou=people,o=xyz.gov,%s\nchangetype: "
                     "add\nobjectClass: inetOrgPerson\nuid: x\ncn: x\n"
                     "sn: x\n" % S))
    assert not exists(eve)
    assert one(acl, xena, "(objectClass=*)", ["mail"],
               scope="base")[1] == {"mail": ["xena@xyz.com"]}
    # nor can it read there
    assert acl.search(XYZ, binddn=ABC_ADMIN, pw=ABC_ADMIN_PW) == []


@r.test
def acl_admin_refused_on_domain_node_and_suffix():
    refused(as_admin("dn: %s\nchangetype: modify\nreplace: inetDomainStatus"
                     "\ninetDomainStatus: inactive\n" % ABC))
    refused(as_admin("dn: %s\nchangetype: modify\nadd: vdmailDomainAdmin\n"
                     "vdmailDomainAdmin: uid=alice,ou=people,%s\n"
                     % (ABC, ABC)))
    refused(as_admin("dn: %s\nchangetype: modify\nadd: vdmailDomainAdmin\n"
                     "vdmailDomainAdmin: %s\n" % (XYZ, ABC_ADMIN)))
    refused(as_admin("dn: %s\nchangetype: delete\n" % ABC))
    refused(as_admin("dn: o=new.com,%s\nchangetype: add\nobjectClass: "
                     "organization\no: new.com\n" % S))
    refused(as_admin("dn: %s\nchangetype: modify\nreplace: description\n"
                     "description: x\n" % S))
    dom = one(acl, ABC, "(objectClass=*)", ["inetDomainStatus",
                                            "vdmailDomainAdmin"],
              scope="base")[1]
    assert dom == {"inetdomainstatus": ["active"],
                   "vdmaildomainadmin": [ABC_ADMIN]}, dom
    # it may read its own domain node
    got = acl.search(ABC, "(objectClass=*)", ["sunPreferredDomain"],
                     scope="base", binddn=ABC_ADMIN, pw=ABC_ADMIN_PW)
    assert got == [(ABC, {"sunpreferreddomain": ["abc.com"]})], got


@r.test
def acl_admin_living_inside_its_domain():
    # xyz.com's admin is one of its users, listed with different case
    zed = "uid=zed,ou=people," + XYZ
    rc, out = as_admin(user_rec(zed, "zed"), BOSS, "boss-pw")
    assert rc == 0, out
    rc, out = as_admin("dn: %s\nchangetype: delete\n" % zed, BOSS, "boss-pw")
    assert rc == 0, out
    refused(as_admin("dn: %s\nchangetype: modify\nreplace: cn\ncn: x\n"
                     % PAT, BOSS, "boss-pw"))
    refused(as_admin("dn: %s\nchangetype: modify\nreplace: inetDomainStatus"
                     "\ninetDomainStatus: deleted\n" % XYZ, BOSS, "boss-pw"))


@r.test
def acl_user_changes_only_own_password():
    rc, out = acl.try_modify("dn: %s\nchangetype: modify\nreplace: "
                             "userPassword\nuserPassword: pat-new\n" % PAT,
                             PAT, "pat-pw")
    assert rc == 0, out
    assert acl.whoami(PAT, "pat-new") == "dn:" + PAT
    alice = "uid=alice,ou=people," + ABC
    refused(acl.try_modify("dn: %s\nchangetype: modify\nreplace: "
                           "userPassword\nuserPassword: x\n" % alice,
                           PAT, "pat-new"))
    assert acl.whoami(alice, ldap_trees.ALICE_PW) == "dn:" + alice
    # reads its own entry, password included; changes nothing else
    me = acl.search(PAT, scope="base", attrs=["mail", "userPassword"],
                    binddn=PAT, pw="pat-new")
    assert me and me[0][1]["mail"] == ["pat@abc.com"] and \
        me[0][1]["userpassword"] == ["pat-new"], me
    refused(acl.try_modify("dn: %s\nchangetype: modify\nreplace: mail\n"
                           "mail: boss@abc.com\n" % PAT, PAT, "pat-new"))
    # sees nobody else
    assert dns(acl.search(S, binddn=PAT, pw="pat-new")) == [PAT.lower()]


@r.test
def acl_sync_reads_everything():
    every = acl.search(S, attrs=["*", "+"])
    got = acl.search(S, attrs=["*", "+"], binddn=acl.syncdn)
    assert dns(got) == dns(every) and len(got) > 15, (len(got), len(every))
    pw = {dn: a.get("userpassword") for dn, a in got}
    assert pw["uid=alice,ou=people," + ABC][0].startswith("{SSHA}")
    assert pw["uid=xena,ou=people," + XYZ] == ["xena-pw"]
    assert all("entryuuid" in a and "entrycsn" in a for _, a in got)
    refused(acl.try_modify("dn: %s\nchangetype: modify\nreplace: cn\n"
                           "cn: x\n" % PAT, acl.syncdn, acl.syncpw))


@r.test
def acl_anonymous_reads_nothing_but_can_bind():
    for base, scope in ((S, "sub"), (PAT, "base"), (ABC, "sub")):
        assert acl.search(base, scope=scope, attrs=["userPassword", "mail"],
                          binddn="") == [], base
    # its bind (auth access to userPassword) works
    assert acl.whoami("uid=xena,ou=people," + XYZ, "xena-pw") == \
        "dn:uid=xena,ou=people," + XYZ
    rc, out = acl.try_modify("dn: %s\nchangetype: modify\nreplace: cn\n"
                             "cn: x\n" % PAT, "", "")
    assert rc in (50, 8), (rc, out)     # 8: strongerAuthRequired


@r.test
def acl_file_loads_with_ldapmodify():
    # the documented way: ldapmodify on cn=config while slapd runs
    assert ld.search(S, "(uid=alice)", ["userPassword"], binddn="") != [], \
        "no ACLs yet: anonymous reads everything"
    ld.modify(acl.acl_ldif(), binddn=ld.configdn, pw=ld.configpw)
    rules = one(ld, "olcDatabase={1}mdb,cn=config", "(objectClass=*)",
                ["olcAccess"], scope="base", binddn=ld.configdn)[1]
    assert len(rules["olcaccess"]) == 7, rules
    assert rules["olcaccess"][0].startswith("{0}to * by dn.exact=\"cn=sync,")
    assert ld.search(S, "(uid=alice)", ["userPassword"], binddn="") == []
    assert ACL_LDIF.endswith("etc/ldap/vdmail-acl.ldif")


# keep the slapd directories (config, database, log) of a failed run
ld.keep = acl.keep = ld.keep or r.failed > 0
r.finish(ld, acl)
