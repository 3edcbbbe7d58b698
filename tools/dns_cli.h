/*
 * dns_cli: the body of `vdsync dns-mx`, which makes this host the MX of a
 * domain at its primary name server (dns_update_mx), or prints the
 * domain's MX records (--query):
 *   dns-mx [--server IP] [--port N] [--zone ZONE] [--mx HOST] [--pref N]
 *          [--ttl N] [--timeout MS] [--key "NAME ALG SECRET" | --key-file F]
 *          [--query] DOMAIN
 * Defaults: server 127.0.0.1, port 53, pref 10, ttl 3600, timeout 3000 ms
 * per try; the zone is found by an SOA query when --zone is not given;
 * --mx is required unless --query. --key shows the secret to ps(1):
 * prefer --key-file (a tsig-keygen file, or the "NAME ALG SECRET" line).
 * Prints "mx DOMAIN -> PREF HOST at SERVER: updated" (or the records) on
 * stdout, errors on stderr. Blocks for at most the timeouts.
 * Returns the exit status: 0 done, 1 the DNS refused or failed, 2 usage.
 */
#ifndef VD_DNS_CLI_H
#define VD_DNS_CLI_H

/* argv[0] is the command's name ("dns-mx"); argv[argc] is NULL. */
int dns_cli_main(int argc, char **argv);

#endif
