import logging

import azure.durable_functions as df
import azure.functions as func


async def main(msg: func.QueueMessage, starter: str) -> None:
    client = df.DurableOrchestrationClient(starter)
    city = msg.get_body().decode("utf-8")
    instance_id = await client.start_new("HelloWorld", None, city)
    logging.info("Queue message '%s' started orchestration '%s'.", city, instance_id)
