import azure.durable_functions as df
import azure.functions as func


async def main(msg: func.QueueMessage, starter: str) -> None:
    client = df.DurableOrchestrationClient(starter)
    amount = int(msg.get_body().decode("utf-8"))
    await client.signal_entity(df.EntityId("Counter", "myCounter"), "add", amount)
