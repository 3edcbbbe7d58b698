"""A large Schema 2 tree for the vdsync benchmark (LDIF for slapadd).

    python3 tests/bench/gen_tree.py [DOMAINS [USERS_PER_DOMAIN]] > tree.ldif

DOMAINS domains d00000.test ... (o=dNNNNN.test,SUFFIX, the shape of
tests/e2e/ldap_trees.py schema2_tree), each with ou=people holding
USERS_PER_DOMAIN users uid=uN (mail uN@dNNNNN.test, alias
alt.uN@dNNNNN.test, one precomputed {SSHA}, mailQuota) and ou=groups
holding one list cn=all (all@dNNNNN.test) whose uniqueMembers are the
first (at most) 5 users. The suffix entry itself is not written (the
harness's Slapd creates it). Deterministic: the same arguments give the
same bytes.
"""
import base64
import hashlib
import sys

SUFFIX = "o=isp"
LIST_MEMBERS = 5
QUOTA = 104857600          # mailQuota of every user, in bytes


def _ssha(password, salt):
    digest = hashlib.sha1(password + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


# One hash for everyone: hashing is not what the benchmark measures.
PASSWORD = _ssha(b"bench-pw", b"\x01\x02\x03\x04")


def domain_name(i):
    return "d%05d.test" % i


def user_mail(i, u):
    return "u%d@%s" % (u, domain_name(i))


def user_dn(i, u, suffix=SUFFIX):
    return "uid=u%d,ou=people,o=%s,%s" % (u, domain_name(i), suffix)


def write_tree(out, domains, users, suffix=SUFFIX):
    """Writes the LDIF to the file object out; returns the entry count."""
    n = 0
    w = out.write
    for i in range(domains):
        name = domain_name(i)
        d = "o=%s,%s" % (name, suffix)
        w("dn: %s\nobjectClass: organization\n"
          "objectClass: sunManagedOrganization\nobjectClass: mailDomain\n"
          "objectClass: vdmailDomain\no: %s\nsunPreferredDomain: %s\n"
          "associatedDomain: %s\ninetDomainStatus: active\n"
          "mailDomainStatus: active\nvdmailDomainPostmaster: u0@%s\n\n"
          % (d, name, name, name, name))
        w("dn: ou=people,%s\nobjectClass: organizationalUnit\n"
          "ou: people\n\n" % d)
        w("dn: ou=groups,%s\nobjectClass: organizationalUnit\n"
          "ou: groups\n\n" % d)
        n += 3
        for u in range(users):
            w("dn: uid=u%d,ou=people,%s\nobjectClass: inetOrgPerson\n"
              "objectClass: inetUser\nobjectClass: inetMailUser\n"
              "objectClass: inetLocalMailRecipient\nuid: u%d\n"
              "cn: User %d of %s\nsn: U%d\nmail: u%d@%s\n"
              "mailAlternateAddress: alt.u%d@%s\nuserPassword: %s\n"
              "inetUserStatus: active\nmailUserStatus: active\n"
              "mailQuota: %d\nmailDeliveryOption: mailbox\n\n"
              % (u, d, u, u, name, u, u, name, u, name, PASSWORD, QUOTA))
            n += 1
        if users:
            members = "".join("uniqueMember: uid=u%d,ou=people,%s\n" % (u, d)
                              for u in range(min(users, LIST_MEMBERS)))
            w("dn: cn=all,ou=groups,%s\nobjectClass: groupOfUniqueNames\n"
              "objectClass: inetMailGroup\n"
              "objectClass: inetLocalMailRecipient\ncn: all\n"
              "mail: all@%s\n%sinetMailGroupStatus: active\n"
              "mailDeliveryOption: members\n\n" % (d, name, members))
            n += 1
    return n


if __name__ == "__main__":
    dom = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    upd = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    write_tree(sys.stdout, dom, upd)
