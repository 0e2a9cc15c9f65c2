"""The Azure Storage task hub: tables, queues and blobs laid out as DurableTask.AzureStorage does."""

from .account import ConnectionStringError
from .naming import HubNameError
from .partitions import LeaseTimings
from .store import AzureStorageTaskHubStore

__all__ = ["AzureStorageTaskHubStore", "ConnectionStringError", "HubNameError", "LeaseTimings"]
