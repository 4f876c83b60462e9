#!/usr/bin/env python3
"""A Mulligan client in Python with nothing generated: message classes come from a
FileDescriptorSet (made by `buf build`), calls go through plain grpcio. It authenticates
with an account's secret, lists regions with the token, and prints the result as JSON.

usage: list_regions.py HOST:PORT DESCRIPTOR_SET ACCOUNT SECRET PROJECT
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def message_classes(path):
    """Returns a function from a message's full name to its Python class."""
    files = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    # buf writes files in dependency order, so each file's imports are already in the pool.
    for file in files.file:
        pool.AddSerializedFile(file.SerializeToString())
    factory = message_factory.MessageFactory(pool)

    def lookup(name):
        desc = pool.FindMessageTypeByName(name)
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(desc)
        return factory.GetPrototype(desc)

    return lookup


def unary(channel, method, response_class):
    return channel.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )


def main():
    target, descriptor_set, account, secret, project = sys.argv[1:6]
    cls = message_classes(descriptor_set)
    with grpc.insecure_channel(target) as channel:
        authenticate = unary(
            channel,
            "/mulligan.iam.v1.IdentityService/Authenticate",
            cls("mulligan.iam.v1.AuthenticateResponse"),
        )
        auth = authenticate(
            cls("mulligan.iam.v1.AuthenticateRequest")(account=account, secret=secret, project=project),
            timeout=30,
        )
        list_regions = unary(
            channel,
            "/mulligan.meta.v1.MetadataService/ListRegions",
            cls("mulligan.meta.v1.ListRegionsResponse"),
        )
        listed = list_regions(
            cls("mulligan.meta.v1.ListRegionsRequest")(page_size=100),
            metadata=(("authorization", "Bearer " + auth.token),),
            timeout=30,
        )
        try:
            list_regions(cls("mulligan.meta.v1.ListRegionsRequest")(), timeout=30)
            unauthenticated = "OK"
        except grpc.RpcError as err:
            unauthenticated = err.code().name
    print(
        json.dumps(
            {
                "token_received": bool(auth.token),
                "regions": [json_format.MessageToDict(r) for r in listed.regions],
                "without_token": unauthenticated,
            }
        )
    )


if __name__ == "__main__":
    main()
