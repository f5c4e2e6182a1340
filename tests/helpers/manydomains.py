"""Three weeks of reports for 53 policy domains, as a mail operator with
many domains receives them: twelve senders, failures of several types on
most domains (with the senders' reason codes), and drops on some.  Used
by the summary test and to measure the summary's size."""
import datetime
import json
import os

MONDAY = datetime.date(2026, 1, 26)  # 2026-W05
NDOMAINS = 53
SENDERS = ["Google Inc.", "Microsoft Corporation", "Yahoo", "Comcast",
           "Mail.ru", "GMX", "Yandex", "Proton", "Fastmail", "Zoho",
           "Apple", "Orange"]
TYPES = [("certificate-host-mismatch",
          "x509: certificate is valid for old.example.org, not %s"),
         ("certificate-expired", "x509: certificate has expired"),
         ("starttls-not-supported", "STARTTLS not offered"),
         ("validation-failure", "unable to get local issuer certificate"),
         ("sts-policy-fetch-error", "HTTP 404 fetching the policy")]


def domain(i):
    return "d%02d.example" % i


def write(d):
    """Writes the reports as JSON files into d; returns their count."""
    n = 0
    for k in range(-14, 7):
        day = MONDAY + datetime.timedelta(days=k)
        start = datetime.datetime.combine(day, datetime.time(0, 0))
        for s, org in enumerate(SENDERS):
            pols = []
            for i in range(NDOMAINS):
                vol = 200 + (i * 37 + s * 11) % 400
                details = []
                # Two domains in three have a chronic failure or two.
                if i % 3 != 2:
                    for t in range(1 + i % 2):
                        typ, code = TYPES[(i + t) % len(TYPES)]
                        mx = "mx%d.%s" % (1 + (s + t) % 3, domain(i))
                        details.append({
                            "result-type": typ,
                            "sending-mta-ip": "192.0.2.%d" % (s + 1),
                            "receiving-mx-hostname": mx,
                            "failed-session-count": 1 + (i + s) % 4,
                            "failure-reason-code": code.replace("%s", mx)
                            if "%s" in code else code,
                        })
                # Every fifth domain loses a third of its sessions from
                # Wednesday of the last week on.
                if i % 5 == 0 and k >= 2:
                    mx = "mx2.%s" % domain(i)
                    details.append({
                        "result-type": "certificate-expired",
                        "sending-mta-ip": "192.0.2.%d" % (s + 1),
                        "receiving-mx-hostname": mx,
                        "failed-session-count": vol // 3,
                        "failure-reason-code":
                        "x509: certificate has expired or is not yet valid"})
                failed = sum(x["failed-session-count"] for x in details)
                p = {"policy": {"policy-type": "sts",
                                "policy-domain": domain(i),
                                "policy-string": ["version: STSv1",
                                                  "mode: enforce",
                                                  "mx: *.%s" % domain(i),
                                                  "max_age: 86400"]},
                     "summary": {"total-successful-session-count": vol,
                                 "total-failure-session-count": failed}}
                if details:
                    p["failure-details"] = details
                pols.append(p)
            r = {"organization-name": org,
                 "date-range": {
                     "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "end-datetime": (start + datetime.timedelta(
                         seconds=86399)).strftime("%Y-%m-%dT%H:%M:%SZ")},
                 "contact-info": "tlsrpt@example.net",
                 "report-id": "%s-%s" % (day.isoformat(), s),
                 "policies": pols}
            n += 1
            with open(os.path.join(d, "r%04d.json" % n), "w") as f:
                json.dump(r, f)
    return n
