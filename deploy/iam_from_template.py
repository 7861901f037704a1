"""The deployment of template.yaml on moto, IAM included, for deploy/local-e2e.sh.

It runs the real SAM transform (aws-sam-translator) on template.yaml, resolves the intrinsics
(Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Select, Fn::Split, Fn::Join, conditions and the pseudo
parameters) to the names of this run, and then, as an administrator:

- creates every AWS::DynamoDB::Table (key schema, attributes, indexes, TTL), AWS::SQS::Queue
  (attributes, redrive policy), AWS::SecretsManager::Secret (its value from --secret
  LOGICAL=FILE, else --secret-file) and AWS::S3::Bucket (Object Lock and its default retention,
  versioning, public access block, encryption, and its AWS::S3::BucketPolicy) of the template,
  named RUN-LogicalId (lower case for buckets);
- puts the approver policy object at the PolicyPath parameter (s3://BUCKET/KEY);
- creates one IAM user per function (http, worker, scheduler: NSA_LAMBDA__FUNCTION) whose
  policies are exactly its role's: the inline Policies, the managed policies (attached by ARN;
  inlined when IAM_DROP changed them) and every AWS::IAM::Policy naming the role;
- writes OUT/FUNCTION.env (the function's environment from the template, resolved, and its
  user's keys) and OUT/deploy.env (names and keys for the script).

The first three calls go through unchecked (moto's INITIAL_NO_AUTH_ACTION_COUNT=3): they create
the administrator; every later call is signed with keys moto checks against IAM.

IAM_DROP=FUNCTION:ACTION[@RESOURCE_SUFFIX] takes one permission away from one role: the action
(exactly as written in a statement), or with @SUFFIX only the action on the resources ending in
SUFFIX (e.g. scheduler:dynamodb:Query@/index/by_grant_end). It fails when nothing matched.

Usage:
  python deploy/iam_from_template.py policies [--policy-path s3://B/K]   # the resolved roles, JSON
  python deploy/iam_from_template.py deploy --endpoint URL --run RUN --policy-path s3://B/K
         --policy-file FILE [--secret-file FILE] [--secret LOGICAL=FILE ...] --out DIR
"""

import argparse
import copy
import json
import os
import shlex
import sys

ACCOUNT = "123456789012"  # moto's default account
REGION = os.environ.get("AWS_REGION", "us-east-1")
PARTITION = "aws"
NO_VALUE = object()
ADMIN_AUTH_CALLS = 3  # create_user, put_user_policy, create_access_key


def transform(template_path, parameters):
    """template.yaml through the SAM transform, as `sam deploy` would send it to CloudFormation."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse

    with open(template_path) as f:
        template = yaml_parse(f.read())
    # `sam build` replaces the local code folders with S3 locations; the transform insists on them.
    template.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in template["Resources"].values():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/code.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    return Translator(None, Parser()).translate(
        template, parameter_values=parameters, get_managed_policy_map=lambda: {}
    )


class Resolver:
    """Intrinsic functions of the transformed template, with this run's physical names."""

    def __init__(self, cfn, parameters, physical):
        self.cfn = cfn
        self.params = {
            name: parameters.get(name, spec.get("Default"))
            for name, spec in cfn.get("Parameters", {}).items()
        }
        self.params.update(
            {
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT,
                "AWS::Partition": PARTITION,
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": "e2e",
            }
        )
        # logical id -> {"Ref": ..., "Arn": ..., ...}; resources not listed resolve to their id.
        self.physical = physical
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self(self.cfn["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        return self.physical.get(name, {}).get("Ref", name)

    def getatt(self, name, attr):
        try:
            return self.physical[name][attr]
        except KeyError:
            raise SystemExit(f"iam_from_template: no value for {name}.{attr} in this run") from None

    def sub(self, text, variables):
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2 : end]
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out.append(str(variables[name]))
            elif "." in name and not name.startswith("AWS::"):
                out.append(str(self.getatt(*name.split(".", 1))))
            else:
                out.append(str(self.ref(name)))
            i = end + 1
        return "".join(out)

    def __call__(self, v):
        if isinstance(v, list):
            return [x for x in (self(x) for x in v) if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return self.ref(a)
            if k == "Fn::GetAtt":
                name, attr = a if isinstance(a, list) else a.split(".", 1)
                return self.getatt(name, attr)
            if k == "Fn::Sub":
                text, variables = (a, {}) if isinstance(a, str) else (a[0], self(a[1]))
                return self.sub(text, variables)
            if k == "Fn::Join":
                return a[0].join(str(x) for x in self(a[1]))
            if k == "Fn::Select":
                return self(a[1])[int(self(a[0]))]
            if k == "Fn::Split":
                return str(self(a[1])).split(a[0])
            if k == "Fn::If":
                return self(a[1]) if self.condition(a[0]) else self(a[2])
            if k == "Fn::Equals":
                return self(a[0]) == self(a[1])
            if k == "Fn::Not":
                return not self(a[0])
            if k == "Fn::And":
                return all(self(x) for x in a)
            if k == "Fn::Or":
                return any(self(x) for x in a)
            if k == "Condition":
                return self.condition(a)
        return {k: x for k, x in ((k, self(x)) for k, x in v.items()) if x is not NO_VALUE}


def resources(cfn, kind):
    return {k: r for k, r in cfn["Resources"].items() if r["Type"] == kind}


def functions(cfn, resolve):
    """FUNCTION -> (Lambda logical id, resolved environment, role logical id)."""
    out = {}
    for logical, fn in resources(cfn, "AWS::Lambda::Function").items():
        env = resolve(fn["Properties"].get("Environment", {}).get("Variables", {}))
        role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        out[env.get("NSA_LAMBDA__FUNCTION", logical)] = (logical, env, role)
    return out


def role_policies(cfn, resolve, role):
    """The role's policies: ({name: document}, [managed policy ARN])."""
    props = cfn["Resources"][role]["Properties"]
    inline = {p["PolicyName"]: resolve(p["PolicyDocument"]) for p in props.get("Policies", [])}
    for logical, policy in resources(cfn, "AWS::IAM::Policy").items():
        if "Condition" in policy and not resolve.condition(policy["Condition"]):
            continue
        roles = policy["Properties"]["Roles"]
        if any(r == {"Ref": role} for r in roles):
            inline[policy["Properties"]["PolicyName"]] = resolve(policy["Properties"]["PolicyDocument"])
    return inline, list(resolve(props.get("ManagedPolicyArns", [])))


def as_list(v):
    return v if isinstance(v, list) else [v]


def drop(document, action, suffix):
    """Removes `action` (on resources ending in `suffix`, if given); how many statements changed."""
    changed, statements = 0, []
    for st in as_list(document.get("Statement", [])):
        actions = as_list(st.get("Action", []))
        if st.get("Effect") != "Allow" or not any(a.lower() == action.lower() for a in actions):
            statements.append(st)
            continue
        rest = [a for a in actions if a.lower() != action.lower()]
        resources_ = as_list(st.get("Resource", []))
        if suffix is None:
            kept = []
        else:
            kept = [r for r in resources_ if not r.endswith(suffix)]
            if len(kept) == len(resources_):
                statements.append(st)
                continue
        changed += 1
        if rest:
            statements.append({**st, "Action": rest})
        if kept:
            statements.append({**{k: x for k, x in st.items() if k != "Sid"}, "Action": [action], "Resource": kept})
    document["Statement"] = statements
    return changed


def parse_drop(spec):
    if not spec:
        return None
    fn, _, rest = spec.partition(":")
    action, _, suffix = rest.partition("@")
    if not fn or ":" not in action:
        raise SystemExit(f"iam_from_template: IAM_DROP={spec}: expected FUNCTION:service:Action[@SUFFIX]")
    return fn, action, suffix or None


def physical_names(run, cfn, endpoint):
    """The names every resource of the template gets in this run (before it exists)."""
    out = {}
    for logical in resources(cfn, "AWS::DynamoDB::Table"):
        name = f"{run}-{logical}"
        out[logical] = {"Ref": name, "Arn": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}
    for logical in resources(cfn, "AWS::SQS::Queue"):
        name = f"{run}-{logical}"
        out[logical] = {
            "Ref": f"{endpoint}/{ACCOUNT}/{name}",
            "QueueName": name,
            "QueueUrl": f"{endpoint}/{ACCOUNT}/{name}",
            "Arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}",
        }
    for logical in resources(cfn, "AWS::S3::Bucket"):
        name = f"{run}-{logical}".lower()
        out[logical] = {"Ref": name, "Arn": f"arn:{PARTITION}:s3:::{name}"}
    return out


def tls_only(statement):
    """A bucket policy statement that denies every request not made over TLS."""
    condition = statement.get("Condition", {})
    return statement.get("Effect") == "Deny" and condition == {"Bool": {"aws:SecureTransport": "false"}}


def create_bucket(s3, name, p):
    """An AWS::S3::Bucket's resolved properties, as CloudFormation would apply them."""
    locked = bool(p.get("ObjectLockEnabled"))
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)
    if p.get("VersioningConfiguration"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]})
    lock = p.get("ObjectLockConfiguration")
    if lock:
        config = {"ObjectLockEnabled": lock.get("ObjectLockEnabled", "Enabled")}
        retention = lock.get("Rule", {}).get("DefaultRetention")
        if retention:
            config["Rule"] = {"DefaultRetention": {
                k: (int(v) if k in ("Days", "Years") else v) for k, v in retention.items()
            }}
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=config)
    if p.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={k: bool(v) for k, v in p["PublicAccessBlockConfiguration"].items()},
        )
    if p.get("BucketEncryption"):
        s3.put_bucket_encryption(
            Bucket=name,
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            ServerSideEncryptionConfiguration={"Rules": [
                {("Apply" + k if k == "ServerSideEncryptionByDefault" else k): v for k, v in rule.items()}
                for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]},
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["policies", "deploy"])
    ap.add_argument("--template", default=os.path.join(os.path.dirname(__file__), "..", "template.yaml"))
    ap.add_argument("--endpoint", default="http://127.0.0.1:5000")
    ap.add_argument("--run", default="e2e")
    ap.add_argument("--policy-path", default="s3://e2e-policy/policy.toml")
    ap.add_argument("--policy-file")
    ap.add_argument("--secret-file", help="the value of every secret not named by --secret")
    ap.add_argument("--secret", action="append", default=[], metavar="LOGICAL=FILE",
                    help="the value of one secret of the template")
    ap.add_argument("--out")
    args = ap.parse_args()

    parameters = {"PolicyPath": args.policy_path}
    cfn = transform(args.template, parameters)
    physical = physical_names(args.run, cfn, args.endpoint)
    dropped = parse_drop(os.environ.get("IAM_DROP", ""))

    if args.command == "policies":
        # Secrets get a placeholder ARN (the real one has a random suffix).
        for logical in resources(cfn, "AWS::SecretsManager::Secret"):
            arn = f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{args.run}-{logical}-XXXXXX"
            physical[logical] = {"Ref": arn, "Id": arn}
        resolve = Resolver(cfn, parameters, physical)
        out = {}
        for fn, (_, _, role) in sorted(functions(cfn, resolve).items()):
            inline, managed = role_policies(cfn, resolve, role)
            out[fn] = {"role": role, "inline": inline, "managed": managed}
        json.dump(out, sys.stdout, indent=2)
        print()
        return

    import boto3

    def client(service, keys=None):
        kw = {"endpoint_url": args.endpoint, "region_name": REGION}
        if keys:
            kw.update(aws_access_key_id=keys[0], aws_secret_access_key=keys[1])
        else:
            kw.update(aws_access_key_id="setup", aws_secret_access_key="setup")
        if service == "s3":
            kw["config"] = boto3.session.Config(s3={"addressing_style": "path"})
        return boto3.client(service, **kw)

    # The administrator: the only unchecked calls of the run.
    iam = client("iam")
    admin_user = f"{args.run}-admin"
    iam.create_user(UserName=admin_user)
    iam.put_user_policy(
        UserName=admin_user,
        PolicyName="admin",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    k = iam.create_access_key(UserName=admin_user)["AccessKey"]
    admin = (k["AccessKeyId"], k["SecretAccessKey"])
    # From here on moto checks every call: unknown keys must be refused.
    try:
        client("sqs", ("AKIAUNKNOWNUNKNOWN00", "x")).list_queues()
    except Exception as e:  # noqa: BLE001 - any refusal will do; the message says which
        if "InvalidClientTokenId" not in str(e) and "AccessDenied" not in str(e):
            raise
    else:
        raise SystemExit(
            "iam_from_template: moto does not check IAM; start it with "
            f"INITIAL_NO_AUTH_ACTION_COUNT={ADMIN_AUTH_CALLS}"
        )

    # The template's resources, as CloudFormation would create them.
    ddb = client("dynamodb", admin)
    setup_resolve = Resolver(cfn, parameters, physical)
    for logical, table in resources(cfn, "AWS::DynamoDB::Table").items():
        p = setup_resolve(table["Properties"])
        kw = {
            "TableName": physical[logical]["Ref"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if p.get("GlobalSecondaryIndexes"):
            kw["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        if p.get("LocalSecondaryIndexes"):
            kw["LocalSecondaryIndexes"] = p["LocalSecondaryIndexes"]
        ddb.create_table(**kw)
        ttl = p.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(
                TableName=kw["TableName"],
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
            )
    sqs = client("sqs", admin)
    queues = resources(cfn, "AWS::SQS::Queue")
    for logical in queues:
        url = sqs.create_queue(QueueName=physical[logical]["QueueName"])["QueueUrl"]
        physical[logical]["Ref"] = physical[logical]["QueueUrl"] = url
    for logical, queue in queues.items():
        p = setup_resolve(queue.get("Properties", {}))
        attrs = {
            k: json.dumps(v) if isinstance(v, dict) else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in p.items()
            if k in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "DelaySeconds",
                     "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize", "SqsManagedSseEnabled")
        }
        if attrs:
            sqs.set_queue_attributes(QueueUrl=physical[logical]["QueueUrl"], Attributes=attrs)
    sm = client("secretsmanager", admin)
    secret_files = dict(spec.split("=", 1) for spec in args.secret)
    secrets = resources(cfn, "AWS::SecretsManager::Secret")
    unknown = set(secret_files) - set(secrets)
    if unknown:
        raise SystemExit(f"iam_from_template: --secret names no secret of the template: {sorted(unknown)}")
    for logical in secrets:
        path = secret_files.get(logical, args.secret_file)
        if not path:
            raise SystemExit(f"iam_from_template: no value for the secret {logical}: --secret {logical}=FILE")
        with open(path) as f:
            value = f.read()
        arn = sm.create_secret(Name=f"{args.run}-{logical}", SecretString=value)["ARN"]
        physical[logical] = {"Ref": arn, "Id": arn}
    s3 = client("s3", admin)
    for logical, bucket in resources(cfn, "AWS::S3::Bucket").items():
        create_bucket(s3, physical[logical]["Ref"], setup_resolve(bucket.get("Properties", {})))
    for logical, policy in resources(cfn, "AWS::S3::BucketPolicy").items():
        p = setup_resolve(policy["Properties"])
        # This run speaks plain HTTP to moto, which a TLS-only statement (Deny when
        # aws:SecureTransport is false) refuses, as AWS would: those statements are left out.
        statements = [st for st in as_list(p["PolicyDocument"].get("Statement", [])) if not tls_only(st)]
        if len(statements) < len(as_list(p["PolicyDocument"].get("Statement", []))):
            print(f"bucket policy {logical}: the TLS-only statement is left out (this run is plain HTTP)", file=sys.stderr)
        if statements:
            s3.put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps({**p["PolicyDocument"], "Statement": statements}))
    if args.policy_path.startswith("s3://"):
        bucket, key = args.policy_path[len("s3://"):].split("/", 1)
        s3.create_bucket(Bucket=bucket)
        with open(args.policy_file, "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())

    # One user per function with exactly its role's policies.
    resolve = Resolver(cfn, parameters, physical)
    iam = client("iam", admin)
    os.makedirs(args.out, exist_ok=True)
    summary = {"ADMIN_ACCESS_KEY_ID": admin[0], "ADMIN_SECRET_ACCESS_KEY": admin[1]}
    fns = functions(cfn, resolve)
    if dropped and dropped[0] not in fns:
        raise SystemExit(f"iam_from_template: IAM_DROP names no function of the template: {dropped[0]}")
    for fn, (logical, env, role) in sorted(fns.items()):
        user = f"{args.run}-{fn}"
        iam.create_user(UserName=user)
        inline, managed = role_policies(cfn, resolve, role)
        changed = 0
        for arn in managed:
            if dropped and dropped[0] == fn:
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
                doc = json.loads(doc) if isinstance(doc, str) else doc
                n = drop(doc, dropped[1], dropped[2])
                if n:
                    changed += n
                    inline["managed-" + arn.rsplit("/", 1)[1]] = doc
                    continue
            iam.attach_user_policy(UserName=user, PolicyArn=arn)
        for name, doc in inline.items():
            if dropped and dropped[0] == fn and not name.startswith("managed-"):
                doc = copy.deepcopy(doc)
                changed += drop(doc, dropped[1], dropped[2])
            if not doc.get("Statement"):
                continue  # IAM_DROP took its only statement; IAM takes no empty policy
            # SAM writes its documents without a Version; IAM takes them as 2008-10-17 (no policy
            # variables: these use none), moto only takes 2012-10-17.
            doc = {"Version": "2012-10-17", **doc}
            iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(doc))
        if dropped and dropped[0] == fn:
            if not changed:
                raise SystemExit(f"iam_from_template: IAM_DROP matched no statement of {role}")
            print(f"IAM_DROP: took {dropped[1]}{'@' + dropped[2] if dropped[2] else ''} from {role} "
                  f"({changed} statement(s))", file=sys.stderr)
        k = iam.create_access_key(UserName=user)["AccessKey"]
        env = {**env, "AWS_ACCESS_KEY_ID": k["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": k["SecretAccessKey"]}
        with open(os.path.join(args.out, f"{fn}.env"), "w") as f:
            for name, value in env.items():
                f.write(f"{name}={value}\n")
        summary[f"{fn.upper()}_ACCESS_KEY_ID"] = k["AccessKeyId"]
        summary[f"{fn.upper()}_SECRET_ACCESS_KEY"] = k["SecretAccessKey"]
        print(f"user {user}: role {role}: inline {sorted(inline)}, managed {managed}", file=sys.stderr)
    for logical, names in physical.items():
        summary[f"{logical}_REF"] = names["Ref"]
    with open(os.path.join(args.out, "deploy.env"), "w") as f:
        for name, value in summary.items():
            f.write(f"{name}={shlex.quote(str(value))}\n")


if __name__ == "__main__":
    main()
